/**
 * `realgen compare` on the real stack, after a real `realgen eval --base`: the base against itself pairs every
 * RealBench item of the suite (same prompts and seeds), so each detector's paired difference is 0 with p = 1, and the
 * table shows both sides.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { testConfigFile } from '../helpers/stack';

const bin = path.resolve(__dirname, '..', '..', 'bin', 'realgen');
let config: string;

function realgen(...args: string[]) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REALGEN_STATE_DIR: mkdtempSync(path.join(os.tmpdir(), 'realgen-compare-state-')),
  };
  for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG']) delete env[k];
  return spawnSync(bin, [...args, '-c', config], { encoding: 'utf8', env, timeout: 300_000 });
}

describe('realgen compare (real stack, real evaluation)', () => {
  before(async () => {
    config = await testConfigFile();
    const r = realgen('eval', '--base'); // its own workers, in its process
    assert.equal(r.status, 0, r.stderr.slice(-3000));
  });

  it('pairs the same prompts and seeds: zero differences, p = 1', () => {
    const r = realgen('compare', 'base', 'base', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      paired: Record<string, { n: number; meanDiff: number; p: number; ci: [number, number] }> | null;
    };
    assert.ok(out.paired, 'paired');
    const names = Object.keys(out.paired);
    assert.ok(names.length >= 4, names.join(', ')); // three detectors and the arena
    for (const [name, t] of Object.entries(out.paired)) {
      assert.equal(t.n, 14, `${name}: every smoke item paired`);
      assert.equal(t.meanDiff, 0);
      assert.equal(t.p, 1);
      assert.deepEqual(t.ci, [0, 0]);
    }
    const table = realgen('compare', 'base', 'base');
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /Detector-Scoring residual-heldout \(held-out\)/);
    assert.match(table.stdout, /paired per image on the same prompts and seeds/);
    console.log(table.stdout);
  });

  it('names what it cannot find', () => {
    const r = realgen('compare', 'base', 'no-such-run');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no-such-run: no evaluation of that checkpoint, run or key/);
  });
});
