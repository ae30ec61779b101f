import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootstrapMeanCi, holm, signFlipP } from '../../../domain/stats/paired-tests';

describe('paired tests', () => {
  it('bootstrap CI brackets the mean and excludes 0 for a clear shift; is seeded', () => {
    const d = Array.from({ length: 50 }, (_, i) => 2 + Math.sin(i));
    const ci = bootstrapMeanCi(d, { resamples: 2000, seed: 3 });
    assert.ok(ci.low > 1.5 && ci.high < 2.5 && ci.low < ci.high, JSON.stringify(ci));
    assert.deepEqual(bootstrapMeanCi(d, { resamples: 2000, seed: 3 }), ci);
  });

  it('sign-flip p is small for a consistent positive shift and large for a symmetric one', () => {
    assert.ok(
      signFlipP(
        Array.from({ length: 30 }, () => 1),
        { resamples: 2000 },
      ) < 0.001,
    );
    const sym = Array.from({ length: 30 }, (_, i) => (i % 2 ? 1 : -1));
    assert.ok(signFlipP(sym, { resamples: 2000 }) > 0.3);
  });

  it('Holm: sorted step-down, monotone, capped at 1, in input order', () => {
    assert.deepEqual(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06]);
    assert.deepEqual(holm([0.6, 0.5]), [1, 1]);
  });
});
