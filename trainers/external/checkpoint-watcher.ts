/**
 * Watches an external trainer's output folder for checkpoint folders (`checkpointGlob`, e.g.
 * `checkpoints/checkpoint-*`) and says when each one is complete, once:
 *  - with `completeMarker` (a path inside the folder, e.g. `lora/adapter_config.json`, which PEFT writes after
 *    the weights): the marker exists and nothing in the folder changed since the previous scan;
 *  - otherwise: nothing in the folder (names, sizes, mtimes) changed for `quietPeriodMs`.
 * A folder still being written when the trainer exits is therefore never complete: at the final scan the
 * reference time is the exit time, and a folder written less than the quiet period before it does not qualify.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

export interface CompleteFolder {
  /** Path relative to the watched root, with "/" (e.g. `checkpoints/checkpoint-20`). */
  rel: string;
  abs: string;
  /** The last integer in the folder name (`checkpoint-20` → 20), or null. */
  upstreamStep: number | null;
}

export interface WatcherOptions {
  root: string;
  glob: string;
  completeMarker?: string;
  quietPeriodMs: number;
  now?: () => number;
}

interface FolderState {
  signature: string;
  /** The newest mtime inside, or when we saw the signature change, whichever is later. */
  lastChange: number;
  /** Scans in a row with the same signature. */
  stableScans: number;
  /** When the last scan saw the folder (a change seen later happened after this). */
  seenAt: number;
  reported: boolean;
}

/** Glob (only `*` and `?`, per path segment) → one regex per segment. */
export function globSegments(glob: string): RegExp[] {
  const parts = glob.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) throw new Error(`checkpointGlob ${JSON.stringify(glob)} names no folder`);
  if (parts.some((p) => p === '..')) throw new Error(`checkpointGlob ${JSON.stringify(glob)} must stay inside the output folder`);
  return parts.map(
    (p) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')}$`,
      ),
  );
}

export function upstreamStepOf(name: string): number | null {
  const all = path.basename(name).match(/\d+/g);
  const last = all?.[all.length - 1];
  return last === undefined ? null : Number(last);
}

async function listMatching(root: string, segments: RegExp[]): Promise<string[]> {
  let current = [''];
  for (const seg of segments) {
    const next: string[] = [];
    for (const rel of current) {
      let entries;
      try {
        entries = await readdir(path.join(root, rel), { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) if (e.isDirectory() && seg.test(e.name)) next.push(rel === '' ? e.name : `${rel}/${e.name}`);
    }
    current = next;
  }
  return current.sort();
}

/** Names, sizes and mtimes of every file under `dir`, plus the newest mtime; null if the folder vanished. */
async function signatureOf(dir: string): Promise<{ signature: string; newest: number; files: number } | null> {
  const parts: string[] = [];
  let newest = 0;
  let files = 0;
  const walk = async (d: string, prefix: string): Promise<boolean> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = path.join(d, e.name);
      const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
      if (e.isDirectory()) {
        parts.push(`${rel}/`);
        if (!(await walk(p, rel))) return false;
        continue;
      }
      try {
        const st = await stat(p);
        parts.push(`${rel}:${st.size}:${st.mtimeMs}`);
        newest = Math.max(newest, st.mtimeMs);
        files += 1;
      } catch {
        parts.push(`${rel}:gone`);
      }
    }
    return true;
  };
  if (!(await walk(dir, ''))) return null;
  return { signature: parts.join('\n'), newest, files };
}

export class CheckpointWatcher {
  private readonly segments: RegExp[];
  private readonly folders = new Map<string, FolderState>();
  private readonly now: () => number;
  /** Last time any checkpoint folder changed (liveness evidence besides log lines). */
  lastActivity = 0;

  constructor(private readonly opts: WatcherOptions) {
    this.segments = globSegments(opts.glob);
    this.now = opts.now ?? Date.now;
  }

  /** Folders reported so far (relative paths). */
  get reported(): string[] {
    return [...this.folders].filter(([, s]) => s.reported).map(([k]) => k);
  }

  /** Upstream steps of folders seen but not reported yet (possibly still being written). */
  pendingSteps(): number[] {
    return [...this.folders]
      .filter(([, s]) => !s.reported)
      .map(([k]) => upstreamStepOf(k))
      .filter((n): n is number => n !== null);
  }

  /**
   * Scans once and returns the folders that became complete (each only once), by upstream step then name.
   * `referenceTime` is "now" while the trainer runs and its exit time at the final scan.
   */
  async scan(referenceTime?: number): Promise<CompleteFolder[]> {
    const now = this.now();
    const ref = referenceTime ?? now;
    const complete: CompleteFolder[] = [];
    for (const rel of await listMatching(this.opts.root, this.segments)) {
      const abs = path.join(this.opts.root, ...rel.split('/'));
      const prev = this.folders.get(rel);
      if (prev?.reported) continue;
      const sig = await signatureOf(abs);
      if (sig === null) continue;
      let state: FolderState;
      if (prev === undefined) {
        // First sight: the files' own mtimes say when they were last written.
        state = {
          signature: sig.signature,
          lastChange: sig.files > 0 ? sig.newest : now,
          stableScans: 0,
          seenAt: now,
          reported: false,
        };
        this.lastActivity = Math.max(this.lastActivity, sig.newest);
      } else if (prev.signature !== sig.signature) {
        // The change happened after the previous scan; the files' mtimes say when. Not "now": a poll delayed by load
        // would otherwise date a folder written long before the trainer's exit to after it, and never commit it.
        state = {
          signature: sig.signature,
          lastChange: Math.max(prev.seenAt, sig.newest),
          stableScans: 0,
          seenAt: now,
          reported: false,
        };
        this.lastActivity = now;
      } else {
        state = { ...prev, lastChange: Math.max(prev.lastChange, sig.newest), stableScans: prev.stableScans + 1, seenAt: now };
      }
      this.folders.set(rel, state);
      if (sig.files === 0) continue;
      let isComplete: boolean;
      if (this.opts.completeMarker !== undefined) {
        const marker = path.join(abs, ...this.opts.completeMarker.split('/'));
        const has = await stat(marker).then(
          (s) => s.isFile(),
          () => false,
        );
        isComplete = has && state.stableScans >= 1;
      } else {
        isComplete = state.stableScans >= 1 && ref - state.lastChange >= this.opts.quietPeriodMs;
      }
      if (isComplete) {
        state.reported = true;
        complete.push({ rel, abs, upstreamStep: upstreamStepOf(rel) });
      }
    }
    return complete.sort((a, b) => (a.upstreamStep ?? -1) - (b.upstreamStep ?? -1) || (a.rel < b.rel ? -1 : 1));
  }
}
