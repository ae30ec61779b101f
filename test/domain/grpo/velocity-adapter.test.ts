import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdapterKlVariant, AdapterTransition } from '../../../domain/grpo/velocity-adapter';
import { MINI_IMAGE_ELEMENTS, VelocityAdapter } from '../../../domain/grpo/velocity-adapter';
import { sdeCoefficients, sdeMean, transitionLogProb } from '../../../domain/mini/sde';
import { numericGrad, relErr } from '../../helpers/gradient-check';
import { Rng } from '../../../lib/random';

const NOISE = 0.9;
const SIGMA_MAX = 0.95;

/** A transition sampled like domain/mini/flow-sampler.ts does, with `offset` added to the base velocity. */
function makeTransition(
  D: number,
  seed: number,
  sigma: number,
  sigmaNext: number,
  prompt: string,
  category: string | null,
  offset?: Float32Array,
): AdapterTransition {
  const rng = Rng.fromSeed(seed, 'transition');
  const x = new Float32Array(D);
  const v = new Float32Array(D);
  rng.fillNormal(x);
  rng.fillNormal(v);
  const vi = Float32Array.from(v, (vj, j) => vj + (offset?.[j] ?? 0));
  const c = sdeCoefficients(sigma, sigmaNext, NOISE, SIGMA_MAX);
  const mean = sdeMean(x, vi, c);
  const xNext = Float32Array.from(mean, (m) => m + c.tau * rng.normal());
  return { x, xNext, v, sigma, sigmaNext, prompt, category };
}

function randomize(adapter: VelocityAdapter, seed: number, scale: number): void {
  const r = Rng.fromSeed(seed, 'A');
  for (let i = 0; i < adapter.size; i++) adapter.params[i] = scale * r.normal();
}

describe('VelocityAdapter', () => {
  it('defaults to D = 12288, m = 16·3 = 48, A = 0 (identity adapter, zero KL)', () => {
    const a = VelocityAdapter.create();
    assert.equal(a.D, MINI_IMAGE_ELEMENTS);
    assert.equal(a.D, 12288);
    assert.equal(a.textDim, 16);
    assert.equal(a.basisDim, 3);
    assert.equal(a.m, 48);
    assert.equal(a.size, 12288 * 48);
    assert.ok(a.size <= 800_000);
    const u = a.offset('a red fox in snow, fine grain', 'animals', 0.7);
    assert.equal(u.length, 12288);
    assert.ok(u.every((x) => x === 0));
    const step = { prompt: 'a red fox', category: 'animals', sigma: 0.7, sigmaNext: 0.6 };
    assert.equal(a.kl(step, 'velocity-mse', NOISE, SIGMA_MAX), 0);
    assert.equal(a.kl(step, 'mean-kl', NOISE, SIGMA_MAX), 0);
  });

  it('builds ψ = t(c) ⊗ [1, σ, σ²] from bias, category and signed hashed words', () => {
    const a = VelocityAdapter.create({ D: 4 });
    const t = a.textFeatures('a red fox', 'dishes');
    assert.equal(t[0], 1);
    assert.equal(t[1 + 2], 1, 'dishes is the third category');
    let sq = 0;
    for (let i = 8; i < 16; i++) sq += (t[i] ?? 0) ** 2;
    assert.ok(sq > 0 && sq <= 3 + 1e-12, 'three words of weight ±1/sqrt(3)');
    const psi = a.features('a red fox', 'dishes', 0.5);
    for (let i = 0; i < 16; i++) {
      assert.equal(psi[i * 3], t[i]);
      assert.equal(psi[i * 3 + 1], (t[i] ?? 0) * 0.5);
      assert.equal(psi[i * 3 + 2], (t[i] ?? 0) * 0.25);
    }
    assert.throws(() => a.features('x', null, 1.5), /σ must be in \[0, 1\]/);
    assert.throws(() => a.features('x', 'cars', 0.5), /unknown category/);
  });

  it('gives a deterministic offset u = Aψ', () => {
    const a = VelocityAdapter.create({ D: 12 });
    randomize(a, 1, 0.3);
    const b = VelocityAdapter.deserialize(a.serialize());
    const u1 = a.offset('an old church at dusk, golden hour', 'buildings', 0.8);
    const u2 = a.offset('an old church at dusk, golden hour', 'buildings', 0.8);
    assert.deepEqual(u1, u2);
    assert.deepEqual(b.offset('an old church at dusk, golden hour', 'buildings', 0.8), u1);
    assert.notDeepEqual(a.offset('an old church at dusk', 'buildings', 0.8), u1);
    assert.notDeepEqual(a.offset('an old church at dusk, golden hour', 'buildings', 0.4), u1);
    const psi = a.features('an old church at dusk, golden hour', 'buildings', 0.8);
    const row3 = Array.from({ length: a.m }, (_, r) => (a.params[3 * a.m + r] ?? 0) * (psi[r] ?? 0)).reduce((x, y) => x + y, 0);
    assert.equal(u1[3], Math.fround(row3));
    const hook = a.offsetHook([
      { text: 'x', category: null },
      { text: 'an old church at dusk, golden hour', category: 'buildings' },
    ]);
    assert.deepEqual(hook(1, 0.8), u1);
  });

  it('with A = 0, logProb equals transitionLogProb of domain/mini/sde.ts exactly (also at σ = 1)', () => {
    const a = VelocityAdapter.create({ D: 3 * 16 * 16 });
    for (const [sigma, sigmaNext] of [
      [0.8, 0.7],
      [1, 0.95],
      [0.3, 0.1],
    ] as const) {
      const t = makeTransition(a.D, 7, sigma, sigmaNext, 'a bowl of ramen', 'dishes');
      assert.equal(a.logProb(t, NOISE, SIGMA_MAX), transitionLogProb(t, NOISE, SIGMA_MAX));
    }
  });

  it('with A ≠ 0, logProb matches transitionLogProb with the offset (μ_θ = μ_base + κu), up to float32 rounding', () => {
    const a = VelocityAdapter.create({ D: 3 * 16 * 16 });
    randomize(a, 2, 0.05);
    const u = a.offset('a bowl of ramen', 'dishes', 0.8);
    const t = makeTransition(a.D, 9, 0.8, 0.7, 'a bowl of ramen', 'dishes', u);
    const mine = a.logProb(t, NOISE, SIGMA_MAX);
    const ref = transitionLogProb(t, NOISE, SIGMA_MAX, u);
    assert.ok(Math.abs(mine - ref) < 1e-5 * Math.abs(ref), `${mine} vs ${ref}`);
    // Sampled with the offset, the adapter explains x' better than the base model does.
    const base = VelocityAdapter.create({ D: a.D });
    assert.ok(mine > base.logProb(t, NOISE, SIGMA_MAX));
  });

  const configs = [
    {
      name: 'D = 12, m = 4 (1 word bucket, no categories, σ degree 1)',
      opts: { D: 12, wordBuckets: 1, categories: [], sigmaDegree: 1 },
      m: 4,
    },
    { name: 'D = 12, default features (m = 48)', opts: { D: 12 }, m: 48 },
  ];
  for (const { name, opts, m } of configs) {
    for (const [sigma, sigmaNext] of [
      [0.8, 0.7],
      [1, 0.95],
    ] as const) {
      it(`∂ℓ/∂A matches central differences, ${name}, σ = ${sigma}`, () => {
        const a = VelocityAdapter.create(opts);
        assert.equal(a.m, m);
        randomize(a, 3, 0.2);
        const t = makeTransition(a.D, 5, sigma, sigmaNext, 'a red fox in snow, slight grain', opts.categories ? null : 'animals');
        const analytic = a.gradLogProb(t, NOISE, SIGMA_MAX);
        const numeric = numericGrad(a, () => a.logProb(t, NOISE, SIGMA_MAX), 1e-3);
        const err = relErr(analytic, numeric, 1e-300);
        assert.ok(err < 1e-6, `relative error ${err}`);
        // ∂ℓ/∂u_j = (x'_j − μ_θ,j)·κ/(τ²D), checked directly for one element.
        const { dLdu, psi } = a.logProbAndGrad(t, NOISE, SIGMA_MAX);
        const c = sdeCoefficients(sigma, sigmaNext, NOISE, SIGMA_MAX);
        const u = a.velocity(psi);
        const mu0 = (sdeMean(t.x, t.v, c)[5] ?? 0) + c.kv * (u[5] ?? 0);
        assert.ok(Math.abs((dLdu[5] ?? 0) - (((t.xNext[5] ?? 0) - mu0) * c.kv) / (c.tau * c.tau * a.D)) < 1e-15);
      });
      for (const variant of ['velocity-mse', 'mean-kl'] as AdapterKlVariant[]) {
        it(`∂KL/∂A (${variant}) matches central differences, ${name}, σ = ${sigma}`, () => {
          const a = VelocityAdapter.create(opts);
          randomize(a, 4, 0.2);
          const step = {
            prompt: 'a red fox in snow, slight grain',
            category: opts.categories ? null : 'animals',
            sigma,
            sigmaNext,
          };
          const kl = a.kl(step, variant, NOISE, SIGMA_MAX);
          assert.ok(kl > 0);
          const analytic = a.gradKl(step, variant, NOISE, SIGMA_MAX);
          const numeric = numericGrad(a, () => a.kl(step, variant, NOISE, SIGMA_MAX), 1e-3);
          const err = relErr(analytic, numeric, 1e-300);
          assert.ok(err < 1e-6, `relative error ${err}`);
          // The values follow the math doc.
          const u = a.velocity(a.features(step.prompt, step.category, sigma));
          const mse = u.reduce((s, x) => s + x * x, 0) / a.D;
          const c = sdeCoefficients(sigma, sigmaNext, NOISE, SIGMA_MAX);
          const expected = variant === 'velocity-mse' ? mse : (c.kv * c.kv * mse) / (2 * c.tau * c.tau);
          assert.ok(Math.abs(kl - expected) < 1e-14 * Math.max(1, expected));
        });
      }
    }
  }

  it('the mean-kl term is the D-mean of the Gaussian KL between the adapted and base steps', () => {
    const a = VelocityAdapter.create({ D: 12 });
    randomize(a, 6, 0.1);
    const step = { prompt: 'a tulip', category: 'plants', sigma: 0.6, sigmaNext: 0.5 };
    const c = sdeCoefficients(0.6, 0.5, NOISE, SIGMA_MAX);
    const u = a.velocity(a.features('a tulip', 'plants', 0.6));
    // KL(N(μ_θ, τ²) ‖ N(μ_base, τ²)) per element = (μ_θ − μ_base)²/(2τ²) = (κu)²/(2τ²).
    const kl = u.reduce((s, x) => s + (c.kv * x) ** 2 / (2 * c.tau ** 2), 0) / a.D;
    assert.ok(Math.abs(a.kl(step, 'mean-kl', NOISE, SIGMA_MAX) - kl) < 1e-15);
  });

  it('round-trips through JSON bit-exactly and refuses a mismatched shape', () => {
    const a = VelocityAdapter.create({ D: 24, wordBuckets: 4, sigmaDegree: 3 });
    randomize(a, 8, 1 / 3);
    const json = JSON.parse(JSON.stringify(a)) as ReturnType<VelocityAdapter['serialize']>;
    const b = VelocityAdapter.deserialize(json);
    const bytes = (x: Float64Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    assert.ok(bytes(b.params).equals(bytes(a.params)));
    assert.equal(b.m, a.m);
    assert.deepEqual(b.serialize(), a.serialize());
    assert.throws(() => VelocityAdapter.deserialize({ ...json, D: 25 }), /expected \d+ values/);
    assert.throws(() => a.logProb(makeTransition(12, 1, 0.5, 0.4, 'x', null), NOISE, SIGMA_MAX), /expected D = 24/);
  });
});
