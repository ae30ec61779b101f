/** Worker scratch folders: swept when their process is gone, removed on SIGTERM and exit, bounded caches. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { boundCacheDir, openWorkerTempDir, sweepStaleWorkerDirs } from '../../../infra/workdir/worker-temp';

const repo = path.resolve(__dirname, '..', '..', '..');
const tsx = path.join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs');

/** A child process that opens a worker folder under `root`, prints it, and idles. */
function childWithTempDir(root: string) {
  const code = `const { openWorkerTempDir } = require(${JSON.stringify(path.join(repo, 'infra', 'workdir', 'worker-temp.ts'))});
const dir = openWorkerTempDir(${JSON.stringify(root)});
console.log(dir);
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', tsx, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, dir, exited };
}

describe('worker temp folders', () => {
  it('are removed when a plain process gets SIGTERM', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'realgen-wt-'));
    const c = childWithTempDir(root);
    const dir = await c.dir;
    assert.ok(existsSync(dir) && dir.startsWith(root));
    c.child.kill('SIGTERM');
    await c.exited;
    assert.equal(existsSync(dir), false);
  });

  it('survive SIGKILL but are swept at the next start; live owners are kept', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'realgen-wt-'));
    const live = childWithTempDir(root);
    const liveDir = await live.dir;
    const dead = childWithTempDir(root);
    const deadDir = await dead.dir;
    dead.child.kill('SIGKILL');
    await dead.exited;
    assert.ok(existsSync(deadDir), 'SIGKILL leaves the folder');
    // A folder claiming a live pid (ours) but another start time: the pid was reused, the folder is stale.
    const reused = path.join(root, `worker-${process.ppid}`);
    mkdirSync(reused);
    writeFileSync(path.join(reused, 'owner.json'), JSON.stringify({ pid: process.ppid, startTime: '1' }));
    const removed = sweepStaleWorkerDirs(root).sort();
    assert.deepEqual(removed, [path.basename(deadDir), `worker-${process.ppid}`].sort());
    assert.ok(existsSync(liveDir), 'a running owner keeps its folder');
    const mine = openWorkerTempDir(root);
    assert.equal(openWorkerTempDir(root), mine, 'one folder per process and root');
    live.child.kill('SIGTERM');
    await live.exited;
    assert.equal(existsSync(liveDir), false);
  });

  it('bound a cache folder by size, least recently used first, never the entry in use', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'realgen-cache-'));
    const names = ['a', 'b', 'c', 'd'];
    names.forEach((n, i) => {
      mkdirSync(path.join(cache, n));
      writeFileSync(path.join(cache, n, 'w.bin'), Buffer.alloc(1000));
      const t = new Date(Date.now() - (10 - i) * 60_000);
      utimesSync(path.join(cache, n), t, t);
    });
    // 'a' is the oldest but in use.
    const removed = await boundCacheDir(cache, 2500, ['a']);
    assert.deepEqual(removed, ['b', 'c']);
    assert.ok(existsSync(path.join(cache, 'a')) && existsSync(path.join(cache, 'd')));
  });
});
