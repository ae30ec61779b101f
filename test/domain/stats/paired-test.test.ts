/** The paired per-image test: exact sign-flip p-values on small samples, the bootstrap CI, and pairing by key. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pairByKey, pairedTest } from '../../../domain/stats/paired-test';

describe('pairedTest', () => {
  it('five positive differences: exact two-sided p = 2/32', () => {
    const r = pairedTest([1, 2, 3, 4, 5], { bootstrap: 500 });
    assert.equal(r.exact, true);
    assert.equal(r.p, 2 / 32);
    assert.equal(r.meanDiff, 3);
    assert.equal(r.wins, 5);
    assert.ok(r.ci[0] > 1 && r.ci[1] <= 5 && r.ci[0] <= 3 && r.ci[1] >= 3, JSON.stringify(r.ci));
  });

  it('symmetric differences: p = 1 and the CI straddles 0', () => {
    const r = pairedTest([-1, 1, -2, 2], { bootstrap: 500 });
    assert.equal(r.p, 1);
    assert.ok(r.ci[0] < 0 && r.ci[1] > 0);
  });

  it('many pairs with a clear shift: Monte Carlo p is small and never 0, and seeded', () => {
    const diffs = Array.from({ length: 60 }, (_, i) => 0.5 + Math.sin(i));
    const r = pairedTest(diffs, { permutations: 2000, seed: 3 });
    assert.equal(r.exact, false);
    assert.ok(r.p > 0 && r.p < 0.01, String(r.p));
    assert.deepEqual(pairedTest(diffs, { permutations: 2000, seed: 3 }), r);
  });

  it('refuses no pairs', () => {
    assert.throws(() => pairedTest([]), /no pairs/);
  });

  it('pairs on shared keys only, B − A', () => {
    const { keys, diffs } = pairByKey(
      new Map([
        ['x', 1],
        ['y', 2],
        ['z', 3],
      ]),
      new Map([
        ['y', 5],
        ['z', 1],
        ['w', 0],
      ]),
    );
    assert.deepEqual(keys, ['y', 'z']);
    assert.deepEqual(diffs, [3, -2]);
  });
});
