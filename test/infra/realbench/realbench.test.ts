import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import {
  REALBENCH_CATEGORIES,
  isHeldoutIndex,
  loadRealBench,
  realBenchId,
  selectSuite,
  type RealBenchItem,
} from '../../../infra/realbench/realbench';

// The repository sits next to shared/ (here /work/main and /work/shared; CI keeps the same layout).
const REALBENCH_DIR = path.resolve(__dirname, '../../../../shared/realbench-data');

const tempDirs: string[] = [];
after(async () => {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

const row = (index: number, extra: Record<string, unknown> = {}) => ({
  file: `images/${realBenchId(index)}.jpg`,
  index,
  category: 'animals',
  prompt: `prompt ${index}`,
  long_prompt: `long prompt ${index}`,
  width: 768,
  height: 512,
  actual_format: 'jpeg',
  ...extra,
});

/** A RealBench folder with the given jsonl lines (objects are serialised) and image files. */
async function fixture(lines: Array<Record<string, unknown> | string>, images: string[]): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'realbench-test-'));
  tempDirs.push(dir);
  await mkdir(path.join(dir, 'images'));
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
  await writeFile(path.join(dir, 'realbench.jsonl'), `${text}\n`);
  for (const image of images) await writeFile(path.join(dir, image), Buffer.from([0xff, 0xd8, 0xff]));
  return dir;
}

/** The problems a failing load reports, after checking it is a non-retryable DatasetMissing failure. */
async function problemsOf(dir: string): Promise<string[]> {
  try {
    await loadRealBench(dir);
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, 'DatasetMissing');
    assert.equal(err.nonRetryable, true);
    const details = err.details?.[0] as { problems?: string[] } | undefined;
    const problems = details?.problems ?? [];
    for (const p of problems) assert.ok(err.message.includes(p), `message lacks ${p}`);
    return problems;
  }
  assert.fail('expected loadRealBench to fail');
}

describe('RealBench manifest: the real data', () => {
  it('loads 1041 items with the README category counts and the jsonl digest', async () => {
    const bench = await loadRealBench(REALBENCH_DIR);
    assert.equal(bench.items.length, 1041);
    const expectedDigest = createHash('sha256')
      .update(await readFile(path.join(REALBENCH_DIR, 'realbench.jsonl')))
      .digest('hex');
    assert.equal(bench.digest, expectedDigest);
    const counts: Record<string, number> = {};
    for (const item of bench.items) counts[item.category] = (counts[item.category] ?? 0) + 1;
    assert.deepEqual(counts, {
      animals: 165,
      buildings: 115,
      dishes: 44,
      indoor_view: 98,
      outdoor_view: 131,
      people: 381,
      plants: 107,
    });
    assert.deepEqual(
      bench.items.map((i) => i.index),
      Array.from({ length: 1041 }, (_, i) => i),
    );
    const item = bench.items[42];
    assert.ok(item);
    assert.equal(item.id, '00042');
    assert.equal(item.file, 'images/00042.jpg');
    assert.equal(item.category, 'animals');
    assert.ok(item.prompt.length > 0 && item.longPrompt.length > item.prompt.length);
    assert.deepEqual(Object.keys(item).sort(), ['category', 'file', 'id', 'index', 'longPrompt', 'prompt']);
  });

  it('has suites full 1041, heldout 105 (index % 10 === 0) and smoke 14 (two held-out items per category)', async () => {
    const { items } = await loadRealBench(REALBENCH_DIR);
    assert.equal(selectSuite(items, 'full').length, 1041);
    const heldout = selectSuite(items, 'heldout');
    assert.equal(heldout.length, 105);
    assert.ok(heldout.every((i) => i.index % 10 === 0));
    const smoke = selectSuite(items, 'smoke');
    assert.equal(smoke.length, 14);
    for (const category of REALBENCH_CATEGORIES) {
      const expected = heldout.filter((i) => i.category === category).slice(0, 2);
      assert.deepEqual(
        smoke.filter((i) => i.category === category),
        expected,
        category,
      );
    }
    // Pinned so a change of the rule or of the data shows up here.
    assert.deepEqual(
      smoke.map((i) => i.id),
      [
        '00000',
        '00010',
        '00170',
        '00180',
        '00280',
        '00290',
        '00330',
        '00340',
        '00430',
        '00440',
        '00560',
        '00570',
        '00940',
        '00950',
      ],
    );
  });
});

describe('RealBench manifest: validation', () => {
  it('loads a valid fixture, sorted by index, ignoring unknown keys and a CRLF ending', async () => {
    const dir = await fixture(
      [row(3, { original_width: 1 }), `${JSON.stringify(row(1, { category: 'plants' }))}\r`],
      ['images/00003.jpg', 'images/00001.jpg'],
    );
    const bench = await loadRealBench(dir);
    assert.deepEqual(bench.items, [
      { id: '00001', index: 1, file: 'images/00001.jpg', category: 'plants', prompt: 'prompt 1', longPrompt: 'long prompt 1' },
      { id: '00003', index: 3, file: 'images/00003.jpg', category: 'animals', prompt: 'prompt 3', longPrompt: 'long prompt 3' },
    ]);
    assert.match(bench.digest, /^[0-9a-f]{64}$/);
  });

  it('reports missing image files by line', async () => {
    const dir = await fixture([row(0), row(1), row(2)], ['images/00001.jpg']);
    assert.deepEqual(await problemsOf(dir), [
      'line 1: missing image file images/00000.jpg',
      'line 3: missing image file images/00002.jpg',
    ]);
  });

  it('reports duplicate indices (ids) and duplicate files, naming the first line', async () => {
    const dir = await fixture(
      [row(0), row(0, { file: 'images/other.jpg' }), row(1, { file: 'images/00000.jpg' })],
      ['images/00000.jpg', 'images/other.jpg'],
    );
    assert.deepEqual(await problemsOf(dir), [
      'line 2: duplicate index 0 (id 00000), first on line 1',
      'line 3: duplicate file images/00000.jpg, first on line 1',
    ]);
  });

  it('reports unknown categories with the allowed list', async () => {
    const dir = await fixture([row(0, { category: 'cats' })], ['images/00000.jpg']);
    assert.deepEqual(await problemsOf(dir), [
      'line 1: unknown category "cats"; expected one of animals, buildings, dishes, indoor_view, outdoor_view, people, plants',
    ]);
  });

  it('reports bad rows: not JSON, empty lines, missing or mistyped fields, unsafe paths', async () => {
    const dir = await fixture(
      [
        '{"file": "images/00000.jpg",',
        '',
        row(2, { prompt: '' }),
        row(3, { width: 0, index: 1.5 }),
        row(4, { file: '../secret.jpg' }),
        row(5, { file: 'photos/00005.jpg' }),
        row(6, { actual_format: 'gif' }),
        (() => {
          const { long_prompt: _lp, ...rest } = row(7);
          return rest;
        })(),
      ],
      [],
    );
    const problems = await problemsOf(dir);
    assert.equal(problems.length, 8, problems.join('\n'));
    assert.equal(problems[0], 'line 1: bad row: expected one JSON object, got invalid JSON');
    assert.equal(problems[1], 'line 2: bad row: expected one JSON object, got an empty line');
    assert.match(problems[2] ?? '', /^line 3: bad row: prompt: expected a non-empty string$/);
    assert.match(problems[3] ?? '', /^line 4: bad row: .*index.*; width/);
    assert.match(problems[4] ?? '', /^line 5: bad row: file: path has a "\.\." segment$/);
    assert.match(problems[5] ?? '', /^line 6: bad row: file: expected a file under images\/$/);
    assert.match(problems[6] ?? '', /^line 7: bad row: actual_format: /);
    assert.match(problems[7] ?? '', /^line 8: bad row: long_prompt: /);
  });

  it('lists all offenders of different kinds in one failure, in line order', async () => {
    const dir = await fixture([row(0), row(0), row(2, { category: 'dogs' }), 'nope', row(4)], ['images/00000.jpg']);
    const problems = await problemsOf(dir);
    assert.deepEqual(
      problems.map((p) => p.slice(0, p.indexOf(':'))),
      ['line 2', 'line 2', 'line 3', 'line 4', 'line 5'],
    );
    assert.match(problems[0] ?? '', /duplicate index 0/);
    assert.match(problems[1] ?? '', /duplicate file images\/00000\.jpg/);
    assert.match(problems[2] ?? '', /unknown category/);
    assert.match(problems[3] ?? '', /bad row/);
    assert.match(problems[4] ?? '', /missing image file images\/00004\.jpg/);
  });

  it('fails clearly without a jsonl or with an empty one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'realbench-test-'));
    tempDirs.push(dir);
    await assert.rejects(loadRealBench(dir), (err: ApplicationFailure) => {
      assert.equal(err.type, 'DatasetMissing');
      assert.match(
        err.message,
        /cannot read .*realbench\.jsonl \(ENOENT\); expected a folder with realbench\.jsonl and images\//,
      );
      return true;
    });
    await writeFile(path.join(dir, 'realbench.jsonl'), '');
    assert.deepEqual(await problemsOf(dir), ['realbench.jsonl has no rows']);
  });
});

describe('suites', () => {
  const item = (index: number, category: RealBenchItem['category']): RealBenchItem => ({
    id: realBenchId(index),
    index,
    file: `images/${realBenchId(index)}.jpg`,
    category,
    prompt: 'p',
    longPrompt: 'lp',
  });

  it('keeps the held-out rule index % 10 === 0', () => {
    assert.deepEqual([0, 1, 9, 10, 20, 1040, 1041].map(isHeldoutIndex), [true, false, false, true, true, true, false]);
    assert.equal(isHeldoutIndex(-10), false);
    assert.equal(isHeldoutIndex(2.5), false);
  });

  it('selects in index order regardless of input order, with fewer smoke items when a category lacks them', () => {
    const items = [item(30, 'dishes'), item(20, 'animals'), item(0, 'animals'), item(10, 'animals'), item(5, 'dishes')];
    assert.deepEqual(
      selectSuite(items, 'full').map((i) => i.index),
      [0, 5, 10, 20, 30],
    );
    assert.deepEqual(
      selectSuite(items, 'heldout').map((i) => i.index),
      [0, 10, 20, 30],
    );
    assert.deepEqual(
      selectSuite(items, 'smoke').map((i) => i.index),
      [0, 10, 30],
    );
    assert.throws(() => selectSuite(items, 'all' as 'full'), /suite: expected one of full, heldout, smoke, got "all"/);
  });
});
