import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildLeaderboard, comparisonsOf, LEADERBOARD_SORT_KEY, rowNames } from '../../../domain/report/leaderboard';
import { LEADERBOARD_ENTRY_SCHEMA, type LeaderboardEntry } from '../../../domain/report/report-model';

function entry(evalKey: string, name: string, wins: number, losses: number, ties: number, suite = 'heldout'): LeaderboardEntry {
  const outcomes = [
    ...Array.from({ length: wins }, (_, i) => ({ id: `w${i}`, outcome: 'win' as const })),
    ...Array.from({ length: losses }, (_, i) => ({ id: `l${i}`, outcome: 'loss' as const })),
    ...Array.from({ length: ties }, (_, i) => ({ id: `t${i}`, outcome: 'tie' as const })),
  ];
  const n = outcomes.length;
  return {
    schema: LEADERBOARD_ENTRY_SCHEMA,
    evalKey,
    name,
    suite,
    source: { kind: 'images', s3Prefix: `uploads/images/${name}/` },
    createdAt: '2026-01-01T00:00:00.000Z',
    detectorScoring: { det: 40 },
    arenaWinRate: n === 0 ? null : (wins + ties / 2) / n,
    arenaCi: n === 0 ? null : [0.1, 0.9],
    positionConsistency: 1,
    outcomes,
  };
}

describe('leaderboard', () => {
  it('rows have exactly the documented shape and are ordered by Bradley–Terry rating, the real photos at 1000', () => {
    const board = buildLeaderboard(
      [entry('a/heldout', 'weak', 5, 40, 5), entry('b/heldout', 'strong', 30, 15, 5), entry('c/heldout', 'mid', 20, 20, 10)],
      { bootstrap: 50 },
    );
    assert.deepEqual(
      board.rows.map((r) => r.name),
      ['strong', 'mid', 'real photos', 'weak'],
    );
    for (const row of board.rows) {
      assert.deepEqual(Object.keys(row), [
        'name',
        'kind',
        'evalKey',
        'detectorScoring',
        'arenaWinRate',
        'arenaCi',
        'bt',
        'failedImages',
      ]);
      assert.ok(row.bt);
      assert.ok(row.bt.ci[0] <= row.bt.rating && row.bt.rating <= row.bt.ci[1]);
    }
    const real = board.rows.find((r) => r.kind === 'real');
    assert.equal(real?.bt?.rating, 1000, 'real photos are pinned at 1000');
    assert.equal(real?.arenaWinRate, 0.5);
    const mid = board.rows.find((r) => r.name === 'mid');
    assert.ok(mid?.bt && Math.abs(mid.bt.rating - 1000) < 20, 'a 50% win rate sits at the real photos');
    assert.ok((board.rows[0]?.bt?.rating ?? 0) > 1000);
    assert.ok((board.rows[3]?.bt?.rating ?? 2000) < 1000);
    assert.match(board.notes.join(' '), /pinned at 1000/);
    assert.equal(board.sortedBy, LEADERBOARD_SORT_KEY);
  });

  it('anchors ratings: adding unrelated rows moves no existing rating', () => {
    const a = entry('a/heldout', 'a', 0, 30, 0);
    const b = entry('b/heldout', 'b', 2, 20, 8);
    const before = buildLeaderboard([a, b], { bootstrap: 20 });
    const after = buildLeaderboard(
      [a, b, entry('c/heldout', 'c', 0, 200, 0), entry('d/heldout', 'd', 40, 2, 0), entry('e/heldout', 'e', 0, 5, 0)],
      {
        bootstrap: 20,
      },
    );
    for (const name of ['a', 'b', 'real photos']) {
      assert.deepEqual(after.rows.find((r) => r.name === name)?.bt, before.rows.find((r) => r.name === name)?.bt, name);
    }
  });

  it('has a base row, marks held-out columns, and breaks rating ties by the mean non-held-out detector score', () => {
    const base = {
      ...entry('base/heldout', 'base', 0, 10, 0),
      source: { kind: 'mini-checkpoint' as const, checkpoint: null },
      detectorScoring: { det: 10, hold: 90 },
    };
    const tuned = { ...entry('t/heldout', 'tuned', 0, 10, 0), detectorScoring: { det: 30, hold: 5 } };
    const board = buildLeaderboard([base, tuned], { bootstrap: 0, heldoutDetectors: ['hold'] });
    assert.deepEqual(board.columns, [
      { detector: 'det', heldout: false },
      { detector: 'hold', heldout: true },
    ]);
    assert.deepEqual(
      board.rows.map((r) => [r.name, r.kind]),
      [
        ['real photos', 'real'],
        ['tuned', 'images'],
        ['base', 'base'],
      ],
    );
    assert.equal(board.rows[1]?.bt?.rating, board.rows[2]?.bt?.rating, 'same outcomes, same rating');
  });

  it('treats every outcome as a comparison against "real"', () => {
    const cmp = comparisonsOf([entry('a/s', 'm', 1, 1, 1)]);
    assert.deepEqual(cmp, [
      { a: 'm', b: 'real', winner: 'a' },
      { a: 'm', b: 'real', winner: 'b' },
      { a: 'm', b: 'real', winner: 'tie' },
    ]);
  });

  it('filters by suite, disambiguates duplicate names and keeps entries without pairs last', () => {
    const entries = [
      entry('x/smoke', 'dup', 3, 1, 0, 'smoke'),
      entry('y/smoke', 'dup', 1, 3, 0, 'smoke'),
      entry('z/smoke', 'empty', 0, 0, 0, 'smoke'),
      entry('w/heldout', 'other', 1, 1, 0),
    ];
    assert.deepEqual(rowNames(entries.slice(0, 2)), ['dup@x/smoke', 'dup@y/smoke']);
    const board = buildLeaderboard(entries, { suite: 'smoke', bootstrap: 0 });
    assert.deepEqual(
      board.rows.map((r) => r.name),
      ['dup@x/smoke', 'real photos', 'dup@y/smoke', 'empty'],
    );
    assert.equal(board.rows[3]?.bt, null);
    assert.equal(board.rows[3]?.arenaWinRate, null);
  });

  it('is deterministic for a seed', () => {
    const entries = [entry('a/s', 'a', 10, 5, 2), entry('b/s', 'b', 4, 9, 1)];
    assert.deepEqual(
      buildLeaderboard(entries, { seed: 3, bootstrap: 30 }),
      buildLeaderboard(entries, { seed: 3, bootstrap: 30 }),
    );
    assert.deepEqual(buildLeaderboard([]).rows, []);
  });

  it('never ranks an evaluation with failed images above a complete one, and says how many failed', () => {
    const partial = { ...entry('p/heldout', 'partial', 40, 2, 0), failedImages: 2 };
    const board = buildLeaderboard([partial, entry('c/heldout', 'complete', 10, 30, 2), entry('o/heldout', 'old', 5, 35, 2)], {
      bootstrap: 20,
    });
    const rows = board.rows.filter((r) => r.kind !== 'real');
    assert.deepEqual(
      rows.map((r) => [r.name, r.failedImages]),
      [
        ['complete', 0],
        ['old', 0],
        ['partial', 2],
      ],
    );
    assert.ok(rows[2]!.bt!.rating > rows[0]!.bt!.rating, 'ranked below despite the higher rating');
  });
});
