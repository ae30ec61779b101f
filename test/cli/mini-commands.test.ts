/** `realgen mini sample` and `realgen mini score --json` with the real realgen-mini models. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const repo = path.resolve(__dirname, '..', '..');
const realgen = path.join(repo, 'bin', 'realgen');
const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-mini-cli-'));

describe('realgen mini', () => {
  it('samples deterministically: one seed, byte-identical PNGs; another seed differs', () => {
    const sample = (seed: number, out: string) => {
      const r = spawnSync(
        realgen,
        [
          'mini',
          'sample',
          '--prompt',
          'a red barn under a cloudy sky, slight grain',
          '--category',
          'buildings',
          '--seed',
          String(seed),
          '--steps',
          '8',
          '--out',
          out,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      return readFileSync(out);
    };
    const a = sample(5, path.join(dir, 'a.png'));
    const b = sample(5, path.join(dir, 'b.png'));
    const c = sample(6, path.join(dir, 'c.png'));
    assert.ok(a.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('scores files under every detector, the held-out one included, and reports bad files per detector', () => {
    const bad = path.join(dir, 'notes.jpg');
    writeFileSync(bad, 'not an image');
    const photo = path.resolve(repo, '..', 'shared', 'realbench-data', 'images', '00010.jpg');
    const r = spawnSync(realgen, ['mini', 'score', '--json', path.join(dir, 'a.png'), photo, bad], { encoding: 'utf8' });
    assert.equal(r.status, 1, 'a bad file makes the exit code non-zero');
    const rows = JSON.parse(r.stdout) as Array<{
      file: string;
      scores: Record<string, number | null>;
      errors?: Record<string, string>;
    }>;
    assert.equal(rows.length, 3);
    for (const row of rows.slice(0, 2)) {
      assert.deepEqual(Object.keys(row.scores).sort(), ['cnn-semantic', 'residual-heldout', 'residual-reward', 'spectral']);
      for (const v of Object.values(row.scores)) assert.ok(typeof v === 'number' && v >= 0 && v <= 1);
    }
    assert.match(rows[2]?.errors?.['cnn-semantic'] ?? '', /not a JPEG, PNG or WebP image/);
    assert.equal(rows[2]?.scores['residual-heldout'], null);
  });
});

describe('realgen mini score: bounded input (issue 12 item 5)', () => {
  it('refuses /dev/zero and other non-regular files at once, before reading', () => {
    const t0 = Date.now();
    const r = spawnSync(realgen, ['mini', 'score', '/dev/zero'], { encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(r.status, 0);
    assert.equal(r.signal, null, 'ended by itself, not by the timeout');
    assert.match(r.stderr, /\/dev\/zero: cannot be read \(not a regular file\)/);
    assert.ok(Date.now() - t0 < 30_000);
  });
});
