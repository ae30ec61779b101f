import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inverseNormalCdf, wilsonInterval, zForConfidence } from '../../../domain/arena/wilson';

const close = (actual: number, expected: number, tol: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: expected ${expected} ± ${tol}, got ${actual}`);

describe('inverseNormalCdf', () => {
  it('matches reference quantiles in the centre and both tails', () => {
    // Reference values from the standard normal table (high precision).
    close(inverseNormalCdf(0.5), 0, 1e-12, 'p=0.5');
    close(inverseNormalCdf(0.975), 1.959963984540054, 1e-8, 'p=0.975');
    close(inverseNormalCdf(0.995), 2.5758293035489, 1e-8, 'p=0.995');
    close(inverseNormalCdf(0.01), -2.3263478740408408, 1e-8, 'p=0.01 (lower tail branch)');
    close(inverseNormalCdf(1e-6), -4.753424308822899, 1e-7, 'p=1e-6');
    close(inverseNormalCdf(0.999), 3.090232306167813, 1e-8, 'p=0.999 (upper tail branch)');
  });

  it('is antisymmetric and monotone', () => {
    let prev = -Infinity;
    for (let p = 0.001; p < 1; p += 0.001) {
      const x = inverseNormalCdf(p);
      assert.ok(x > prev, `not increasing at p=${p}`);
      prev = x;
      close(x, -inverseNormalCdf(1 - p), 1e-8, `symmetry at ${p}`);
    }
  });

  it('refuses p outside (0, 1)', () => {
    for (const p of [0, 1, -0.1, 1.5, Number.NaN]) assert.throws(() => inverseNormalCdf(p), /expected p in \(0, 1\)/);
  });
});

describe('wilsonInterval', () => {
  it('defaults to 95% (z = 1.96) and matches a textbook value', () => {
    close(zForConfidence(), 1.959963984540054, 1e-8, 'z95');
    close(zForConfidence(0.99), 2.5758293035489, 1e-8, 'z99');
    // 7 successes of 10 at 95%: [0.3968, 0.8922] (Wilson 1927; e.g. Newcombe 1998, Table I).
    const w = wilsonInterval(7, 10);
    assert.ok(w);
    close(w.lower, 0.3968, 1e-4, 'lower');
    close(w.upper, 0.8922, 1e-4, 'upper');
    assert.equal(w.estimate, 0.7);
    assert.equal(w.confidence, 0.95);
  });

  it('returns null for n = 0', () => {
    assert.equal(wilsonInterval(0, 0), null);
  });

  it('handles 0 and n successes with exact 0 and 1 bounds and a non-degenerate other side', () => {
    const none = wilsonInterval(0, 20);
    assert.ok(none);
    assert.equal(none.lower, 0);
    close(none.upper, 0.1611, 1e-4, 'upper at 0/20');
    const all = wilsonInterval(20, 20);
    assert.ok(all);
    assert.equal(all.upper, 1);
    close(all.lower, 1 - 0.1611, 1e-4, 'lower at 20/20');
  });

  it('accepts fractional successes (ties as 0.5) and lies between its integer neighbours', () => {
    const half = wilsonInterval(5.5, 10);
    const lo = wilsonInterval(5, 10);
    const hi = wilsonInterval(6, 10);
    assert.ok(half && lo && hi);
    assert.equal(half.estimate, 0.55);
    assert.ok(lo.lower < half.lower && half.lower < hi.lower);
    assert.ok(lo.upper < half.upper && half.upper < hi.upper);
    assert.ok(half.lower < 0.55 && 0.55 < half.upper);
  });

  it('narrows with n and widens with confidence', () => {
    const small = wilsonInterval(5, 10);
    const large = wilsonInterval(500, 1000);
    const wide = wilsonInterval(5, 10, 0.99);
    assert.ok(small && large && wide);
    assert.ok(large.upper - large.lower < small.upper - small.lower);
    assert.ok(wide.upper - wide.lower > small.upper - small.lower);
  });

  it('names the bad argument', () => {
    assert.throws(() => wilsonInterval(1, 2.5), /expected n to be a non-negative integer, got 2.5/);
    assert.throws(() => wilsonInterval(3, 2), /expected successes in \[0, n = 2\], got 3/);
    assert.throws(() => wilsonInterval(-1, 2), /expected successes/);
    assert.throws(() => wilsonInterval(1, 2, 1), /confidence: expected a number in \(0, 1\), got 1/);
  });
});
