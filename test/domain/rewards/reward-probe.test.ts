import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyseRewardProbe, type ProbeSample } from '../../../domain/rewards/reward-probe';
import { pearson } from '../../../domain/stats/correlation';

const samples = (reward: (h: number, i: number) => number): ProbeSample[] =>
  Array.from({ length: 16 }, (_, i) => {
    const heldout = ((i * 37) % 11) / 11;
    return { group: `g${Math.floor(i / 4)}`, rewards: { det: reward(heldout, i) }, heldout };
  });

const edits = (det: number, held: number) => ({
  sharpen: {
    det: { before: [0.1, 0.2], after: [0.1 + det, 0.2 + det] },
    held: { before: [0.3, 0.3], after: [0.3 + held, 0.3 + held] },
  },
  blur: {
    det: { before: [0.1, 0.2], after: [0.1 - det, 0.2 - det] },
    held: { before: [0.3, 0.3], after: [0.3 - held, 0.3 - held] },
  },
});

describe('reward-signal probe', () => {
  it('pearson: perfect, anti and flat series', () => {
    assert.equal(pearson([1, 2, 3], [2, 4, 6]), 1);
    assert.equal(pearson([1, 2, 3], [3, 2, 1]), -1);
    assert.equal(pearson([1, 2, 3], [5, 5, 5]), 0);
    assert.throws(() => pearson([1], [1, 2]), /lengths differ/);
  });

  it('a reward that is a monotone function of the held-out score within groups passes the gate', () => {
    const r = analyseRewardProbe({
      samples: samples((h) => 2 * h + 1),
      weights: { det: 1 },
      rewardDetectors: ['det'],
      heldoutName: 'held',
      detectorScores: [
        { det: 0.1, held: 0.2 },
        { det: 0.5, held: 0.7 },
        { det: 0.3, held: 0.4 },
      ],
      edits: edits(0.05, 0.2),
    });
    assert.ok(r.withinGroupCorrelation > 0.99, String(r.withinGroupCorrelation));
    assert.equal(r.nGroups, 4);
    assert.ok(Math.abs((r.editEffects.sharpen?.held ?? 0) - 20) < 1e-9);
    assert.equal(r.pairwise.length, 1);
    assert.deepEqual(r.gate, { passed: true, minCorrelation: 0.3, failures: [] });
  });

  it('fails the gate on an orthogonal reward and names a detector that moves against the held-out one', () => {
    const r = analyseRewardProbe({
      samples: samples((_, i) => (i * 13) % 4),
      weights: { det: 1 },
      rewardDetectors: ['det'],
      heldoutName: 'held',
      detectorScores: [],
      edits: edits(-0.05, 0.2),
    });
    assert.equal(r.gate.passed, false);
    assert.match(r.gate.failures.join('\n'), /within-group correlation/);
    assert.match(r.gate.failures.join('\n'), /edit sharpen: reward detector det moves -5\.0 points, held-out 20\.0/);
    assert.match(r.gate.failures.join('\n'), /edit blur: reward detector det/);
  });
});
