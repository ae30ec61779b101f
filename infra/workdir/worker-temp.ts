/**
 * A worker's scratch folder: under the state folder (never /tmp), private (0700), removed when the process exits,
 * and swept at the next start when the process died without exiting (`kill -9`, a crash, a reboot). Folders are
 * named `worker-<pid>` and hold `owner.json` with the pid's start time, so a folder whose pid was reused by an
 * unrelated process is still recognised as stale.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { lstat, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

const OWNER_FILE = 'owner.json';
/** Folders this process opened, by root. */
const OPENED = new Map<string, string>();

/** The start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), or null when it is gone. */
export function processStartTime(pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its closing parenthesis.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** True when the folder's owner (pid and start time from owner.json) is no longer running. */
function ownerGone(dir: string): boolean {
  try {
    const owner = JSON.parse(readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as { pid: number; startTime: string | null };
    const now = processStartTime(owner.pid);
    return now === null || (owner.startTime !== null && now !== owner.startTime);
  } catch {
    // No readable owner file: judge by the pid in the name alone.
    const pid = Number(/^worker-(\d+)$/.exec(path.basename(dir))?.[1]);
    return !Number.isInteger(pid) || processStartTime(pid) === null;
  }
}

/** Removes the `worker-<pid>` folders under `root` whose process is gone; returns the removed names. */
export function sweepStaleWorkerDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(root)) {
    if (!/^worker-\d+$/.test(name)) continue;
    const dir = path.join(root, name);
    if (ownerGone(dir)) {
      rmSync(dir, { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

/**
 * Creates this process's scratch folder `<root>/worker-<pid>` (0700) after sweeping stale ones, and removes it
 * when the process exits. On SIGTERM/SIGINT with no other handler installed (a plain process), it removes the
 * folder and re-raises the signal; where another handler runs a graceful shutdown (Temporal's Worker), the folder
 * stays until the process exits, so trainers still flushing a checkpoint keep their files.
 */
export function openWorkerTempDir(root: string): string {
  // One folder per process and root: several worker contexts in one process share it.
  const opened = OPENED.get(path.resolve(root));
  if (opened !== undefined) return opened;
  sweepStaleWorkerDirs(root);
  const dir = path.join(root, `worker-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) }));
  OPENED.set(path.resolve(root), dir);
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      if (process.listenerCount(signal) > 1) return;
      remove();
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
  return dir;
}

async function sizeOf(p: string): Promise<number> {
  const st = await lstat(p);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(p)) total += await sizeOf(path.join(p, name));
  return total;
}

/**
 * Bounds a cache folder (one sub-folder per cached item, e.g. one per evaluated checkpoint) to `maxBytes`:
 * removes sub-folders least recently modified first until the total fits, never the ones in `keep`. Callers
 * touch (utimes) an entry when they use it so that recency follows use. Returns the removed names.
 */
export async function boundCacheDir(cacheDir: string, maxBytes: number, keep: readonly string[] = []): Promise<string[]> {
  if (!existsSync(cacheDir)) return [];
  const entries = await Promise.all(
    (await readdir(cacheDir)).map(async (name) => {
      const full = path.join(cacheDir, name);
      return { name, full, size: await sizeOf(full), mtime: (await stat(full)).mtimeMs };
    }),
  );
  let total = entries.reduce((s, e) => s + e.size, 0);
  const kept = new Set(keep.map((k) => path.resolve(cacheDir, k)));
  const removed: string[] = [];
  for (const e of entries.sort((a, b) => a.mtime - b.mtime)) {
    if (total <= maxBytes) break;
    if (kept.has(path.resolve(e.full))) continue;
    await rm(e.full, { recursive: true, force: true });
    total -= e.size;
    removed.push(e.name);
  }
  return removed;
}
