import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clippedSurrogate, surrogateStats } from '../../../domain/grpo/surrogate';

/** L as a function of ℓ_θ, for finite differences. */
const lossAt = (l: number, old: number, A: number, eps: number) => clippedSurrogate(l, old, A, eps).loss;

describe('clipped surrogate', () => {
  it('equals −A·ρ with c = −A·ρ inside the clip range', () => {
    const t = clippedSurrogate(-1.2, -1.25, 0.8, 0.2);
    const rho = Math.exp(0.05);
    assert.ok(Math.abs(t.ratio - rho) < 1e-15);
    assert.ok(Math.abs(t.loss - -0.8 * rho) < 1e-15);
    assert.ok(Math.abs(t.coef - -0.8 * rho) < 1e-15);
    assert.equal(t.active, true);
    assert.equal(t.clipped, false);
    assert.ok(Math.abs(t.approxKl - 0.5 * 0.05 * 0.05) < 1e-15);
  });

  it('cuts the gradient exactly on the clipped branches, and keeps it on the other side', () => {
    const eps = 0.1;
    const up = Math.log(1.3); // ρ = 1.3 > 1 + ε
    const down = Math.log(0.7); // ρ = 0.7 < 1 − ε
    // A > 0, ρ > 1+ε: clipped, L = −A(1+ε), no gradient.
    let t = clippedSurrogate(up, 0, 2, eps);
    assert.equal(t.active, false);
    assert.equal(t.coef, 0);
    assert.ok(Math.abs(t.loss - -2 * 1.1) < 1e-15);
    assert.equal(t.clipped, true);
    // A < 0, ρ < 1−ε: clipped, L = −A(1−ε), no gradient.
    t = clippedSurrogate(down, 0, -2, eps);
    assert.equal(t.active, false);
    assert.equal(t.coef, 0);
    assert.ok(Math.abs(t.loss - 2 * 0.9) < 1e-15);
    // A > 0, ρ < 1−ε: the unclipped (pessimistic) branch is the max; gradient flows although |ρ−1| > ε.
    t = clippedSurrogate(down, 0, 2, eps);
    assert.equal(t.active, true);
    assert.equal(t.clipped, true, 'clipfrac counts |ρ − 1| > ε whatever the branch, as the official code');
    assert.ok(Math.abs(t.coef - -2 * 0.7) < 1e-14);
    assert.ok(Math.abs(t.loss - -2 * 0.7) < 1e-14);
    // A < 0, ρ > 1+ε: likewise.
    t = clippedSurrogate(up, 0, -2, eps);
    assert.equal(t.active, true);
    assert.ok(Math.abs(t.coef - 2 * 1.3) < 1e-14);
  });

  it('has c = dL/dℓ_θ (central differences) away from the kinks', () => {
    const eps = 0.15;
    for (const A of [-1.7, -0.3, 0.4, 2.2]) {
      for (const l of [-0.5, -0.12, -0.01, 0, 0.05, 0.11, 0.4]) {
        const h = 1e-6;
        const fd = (lossAt(l + h, 0, A, eps) - lossAt(l - h, 0, A, eps)) / (2 * h);
        const c = clippedSurrogate(l, 0, A, eps).coef;
        assert.ok(Math.abs(fd - c) <= 1e-7 * Math.max(1, Math.abs(c)), `A=${A} ℓ=${l}: fd ${fd} vs c ${c}`);
      }
    }
  });

  it('gives zero loss and a plain zero coefficient for A = 0', () => {
    const t = clippedSurrogate(0.3, 0.1, 0, 0.2);
    assert.ok(Object.is(t.coef, 0));
    assert.ok(Object.is(t.loss, 0));
  });

  it('aggregates loss, clipfrac and approx KL as means', () => {
    const terms = [
      clippedSurrogate(0, 0, 1, 0.1),
      clippedSurrogate(Math.log(1.5), 0, 1, 0.1),
      clippedSurrogate(Math.log(0.5), 0, 1, 0.1),
      clippedSurrogate(0.01, 0, -1, 0.1),
    ];
    const s = surrogateStats(terms);
    assert.equal(s.count, 4);
    assert.equal(s.clipfrac, 0.5);
    assert.equal(s.inactiveFrac, 0.25);
    const expectedLoss = (-1 + -1.1 + -0.5 + Math.exp(0.01)) / 4;
    assert.ok(Math.abs(s.loss - expectedLoss) < 1e-15);
    const lr = [0, Math.log(1.5), Math.log(0.5), 0.01];
    assert.ok(Math.abs(s.approxKl - lr.reduce((a, x) => a + 0.5 * x * x, 0) / 4) < 1e-15);
    assert.deepEqual(surrogateStats([]), { count: 0, loss: 0, clipfrac: 0, approxKl: 0, inactiveFrac: 0 });
  });

  it('refuses non-finite inputs and a negative clip range', () => {
    assert.throws(() => clippedSurrogate(NaN, 0, 1, 0.1), /non-finite/);
    assert.throws(() => clippedSurrogate(0, 0, Infinity, 0.1), /advantage/);
    assert.throws(() => clippedSurrogate(0, 0, 1, -0.1), /clip range/);
  });
});
