import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeAdvantages, type RewardSample } from '../../../domain/rewards/advantages';

const EPS = 1e-4;

function assertClose(actual: readonly number[], expected: readonly number[], tol = 1e-12): void {
  assert.equal(actual.length, expected.length, `length: got ${actual.length}, expected ${expected.length}`);
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    assert.ok(Math.abs(a - e) <= tol, `index ${i}: got ${a}, expected ${e}`);
  });
}

const s = (group: string, rewards: Record<string, number>): RewardSample => ({ group, rewards });

describe('computeAdvantages', () => {
  it('z-scores each key within its group and averages with unequal weights (2 groups × 3 samples × 2 keys)', () => {
    // p1: det [0.2, 0.5, 0.8] → μ 0.5, σ² = (0.09 + 0 + 0.09)/3 = 0.06; clip [1, 1, 4] → μ 2, σ² = (1 + 1 + 4)/3 = 2.
    // p2: det [0.9, 0.9, 0.6] → μ 0.8, σ² = (0.01 + 0.01 + 0.04)/3 = 0.02; clip [3, 0, 3] → μ 2, σ² = 2.
    const samples = [
      s('p1', { det: 0.2, clip: 1 }),
      s('p2', { det: 0.9, clip: 3 }),
      s('p1', { det: 0.5, clip: 1 }),
      s('p2', { det: 0.9, clip: 0 }),
      s('p1', { det: 0.8, clip: 4 }),
      s('p2', { det: 0.6, clip: 3 }),
    ];
    const out = computeAdvantages(samples, { det: 3, clip: 1 });

    const d1 = Math.sqrt(0.06) + EPS;
    const d2 = Math.sqrt(0.02) + EPS;
    const c = Math.sqrt(2) + EPS;
    const zDet = [-0.3 / d1, 0.1 / d2, 0, 0.1 / d2, 0.3 / d1, -0.2 / d2];
    const zClip = [-1 / c, 1 / c, -1 / c, -2 / c, 2 / c, 1 / c];
    assertClose(out.z.det as number[], zDet);
    assertClose(out.z.clip as number[], zClip);
    assertClose(
      out.advantages,
      zDet.map((zd, i) => (3 * zd + (zClip[i] as number)) / 4),
    );
    // Spot-check one value numerically: sample 0 = (3·(−0.3/0.245049) − 1/1.414314)/4 ≈ (−3.672735 − 0.707057)/4 ≈ −1.094948.
    assert.ok(Math.abs((out.advantages[0] as number) - -1.094948) < 1e-6);

    assertClose(out.weightedRaw, [(0.6 + 1) / 4, (2.7 + 3) / 4, (1.5 + 1) / 4, 2.7 / 4, (2.4 + 4) / 4, (1.8 + 3) / 4]);
    assert.deepEqual(
      out.groups.map((g) => g.group),
      ['p1', 'p2'],
    );
    assert.deepEqual(
      out.groups.map((g) => g.size),
      [3, 3],
    );
    // p1: (1.6 + 2.5 + 6.4)/4/3 = 0.875; p2: (5.7 + 2.7 + 4.8)/4/3 = 1.1.
    assertClose(
      out.groups.map((g) => g.meanWeightedRaw),
      [0.875, 1.1],
    );
    assert.equal(out.zeroStdFraction, 0);
  });

  it('gives exactly 0 for a zero-variance group, even for sums that are not exact in floating point', () => {
    // 0.1 + 0.1 + 0.1 = 0.30000000000000004, so a naive mean would leave ulp-sized deviations.
    const samples = [s('a', { r: 0.1 }), s('a', { r: 0.1 }), s('a', { r: 0.1 }), s('b', { r: 0 }), s('b', { r: 1 })];
    const out = computeAdvantages(samples, { r: 1 });
    assert.deepEqual(out.advantages.slice(0, 3), [0, 0, 0]);
    assert.deepEqual((out.z.r as number[]).slice(0, 3), [0, 0, 0]);
    // Group b: μ 0.5, σ 0.5.
    assertClose(out.advantages.slice(3), [-0.5 / (0.5 + EPS), 0.5 / (0.5 + EPS)]);
    assert.equal(out.zeroStdFraction, 0.5);
  });

  it('averages the zero-std fraction over keys', () => {
    // Key x: group g1 constant, g2 not → 1/2. Key y: neither constant → 0. Mean over keys = 0.25.
    const samples = [s('g1', { x: 1, y: 0 }), s('g1', { x: 1, y: 1 }), s('g2', { x: 0, y: 0 }), s('g2', { x: 2, y: 1 })];
    assert.equal(computeAdvantages(samples, { x: 1, y: 1 }).zeroStdFraction, 0.25);
  });

  it("uses the batch std but the group mean with std: 'global'", () => {
    // g1 [9, 11] μ 10; g2 [−7, 7] μ 0. Batch: mean 5, deviations 4, 6, −12, 2 → σ² = (16 + 36 + 144 + 4)/4 = 50.
    const samples = [s('g1', { r: 9 }), s('g1', { r: 11 }), s('g2', { r: -7 }), s('g2', { r: 7 })];
    const g = Math.sqrt(50);
    const out = computeAdvantages(samples, { r: 1 }, { std: 'global', eps: 0 });
    assertClose(out.advantages, [-1 / g, 1 / g, -7 / g, 7 / g]);
    // With the group std every sample is ±1.
    assertClose(computeAdvantages(samples, { r: 1 }, { eps: 0 }).advantages, [-1, 1, -1, 1]);
    // Per-group zero-std counting does not depend on the std mode.
    assert.equal(out.zeroStdFraction, 0);
  });

  it('clips the combined advantage to ±clip but leaves per-key z unclipped', () => {
    // 36 zeros and one 1: μ = 1/37, σ = sqrt(p(1−p)) = 6/37, so the outlier's z = (36/37)/(6/37) = 6, the rest −1/6.
    const up = [...Array.from({ length: 36 }, () => s('g', { r: 0 })), s('g', { r: 1 })];
    const outUp = computeAdvantages(up, { r: 1 }, { eps: 1e-12 });
    assert.ok(Math.abs((outUp.z.r as number[])[36]! - 6) < 1e-9);
    assert.equal(outUp.advantages[36], 5);
    assert.ok(Math.abs((outUp.advantages[0] as number) - -1 / 6) < 1e-9);
    // The mirror image clips at −5; a custom clip applies too.
    const down = [...Array.from({ length: 36 }, () => s('g', { r: 1 })), s('g', { r: 0 })];
    assert.equal(computeAdvantages(down, { r: 1 }, { eps: 1e-12 }).advantages[36], -5);
    assert.equal(computeAdvantages(down, { r: 1 }, { eps: 1e-12, clip: 2 }).advantages[36], -2);
  });

  it('ignores a weight-0 key: not required, not reported, not in the average', () => {
    const samples = [s('g', { a: 0, b: 100 }), s('g', { a: 2 })];
    const out = computeAdvantages(samples, { a: 2, b: 0 }, { eps: 0 });
    assert.deepEqual(out.advantages, [-1, 1]);
    assert.deepEqual(Object.keys(out.z), ['a']);
    assert.deepEqual(out.weightedRaw, [0, 2]);
  });

  it('returns empty results for an empty batch', () => {
    const out = computeAdvantages([], { r: 1 });
    assert.deepEqual(out, { advantages: [], z: { r: [] }, weightedRaw: [], groups: [], zeroStdFraction: 0 });
  });

  it('rejects missing and non-finite rewards, naming the sample and the key', () => {
    const ok = s('g', { a: 1, b: 1 });
    assert.throws(() => computeAdvantages([ok, s('g', { a: 1 })], { a: 1, b: 1 }), /sample 1 \(group "g"\): missing reward "b"/);
    assert.throws(
      () => computeAdvantages([ok, ok, s('h', { a: Number.NaN, b: 1 })], { a: 1, b: 1 }),
      /sample 2 \(group "h"\): reward "a" must be a finite number, got NaN/,
    );
    assert.throws(
      () => computeAdvantages([s('g', { a: Infinity })], { a: 1 }),
      /reward "a" must be a finite number, got Infinity/,
    );
  });

  it('rejects bad weights and options', () => {
    const one = [s('g', { a: 1 })];
    assert.throws(() => computeAdvantages(one, { a: -1 }), /weight for reward "a" must be a finite number ≥ 0, got -1/);
    assert.throws(() => computeAdvantages(one, { a: Number.NaN }), /weight for reward "a"/);
    assert.throws(() => computeAdvantages(one, { a: 0 }), /at least one reward weight must be > 0/);
    assert.throws(() => computeAdvantages(one, {}), /at least one reward weight must be > 0/);
    assert.throws(() => computeAdvantages(one, { a: 1 }, { eps: -1 }), /options\.eps must be a finite number ≥ 0/);
    assert.throws(() => computeAdvantages(one, { a: 1 }, { clip: 0 }), /options\.clip must be a finite number > 0/);
    assert.throws(
      () => computeAdvantages(one, { a: 1 }, { std: 'batch' as 'global' }),
      /options\.std must be 'group' or 'global'/,
    );
  });
});
