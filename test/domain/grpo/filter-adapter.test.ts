import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADAPTER_FILTERS, FilterAdapter, filterBank } from '../../../domain/grpo/filter-adapter';
import type { AdapterTransition } from '../../../domain/grpo/velocity-adapter';
import { sampleFlow, type VelocityModel } from '../../../domain/mini/flow-sampler';
import { sdeCoefficients, sdeMean } from '../../../domain/mini/sde';
import { Tokenizer } from '../../../domain/mini/tokenizer';
import { numericGrad, relErr } from '../../helpers/gradient-check';
import { Rng } from '../../../lib/random';

const NOISE = 0.9;
const SIGMA_MAX = 0.95;
const SIDE = 5;
const D = 3 * SIDE * SIDE;

function makeTransition(seed: number, sigma: number, sigmaNext: number, offset?: Float32Array): AdapterTransition {
  const rng = Rng.fromSeed(seed, 'transition');
  const x = new Float32Array(D);
  const v = new Float32Array(D);
  rng.fillNormal(x);
  rng.fillNormal(v);
  const vi = Float32Array.from(v, (vj, j) => vj + (offset?.[j] ?? 0));
  const c = sdeCoefficients(sigma, sigmaNext, NOISE, SIGMA_MAX);
  const mean = sdeMean(x, vi, c);
  const xNext = Float32Array.from(mean, (m) => m + c.tau * rng.normal());
  return { x, xNext, v, sigma, sigmaNext, prompt: 'a red barn in fog', category: 'buildings' };
}

function randomized(seed: number, scale: number): FilterAdapter {
  const a = FilterAdapter.create({ side: SIDE });
  const r = Rng.fromSeed(seed, 'W');
  for (let i = 0; i < a.size; i++) a.params[i] = scale * r.normal();
  return a;
}

describe('FilterAdapter (weight-shared stage-2 adapter)', () => {
  it('has 3 channels × 6 filters × 48 features = 864 parameters at 64×64, starting at 0 (identity)', () => {
    const a = FilterAdapter.create();
    assert.equal(a.size, 864);
    assert.equal(a.D, 12288);
    assert.ok(a.params.every((p) => p === 0));
    assert.deepEqual([...ADAPTER_FILTERS], ['identity', 'laplacian', 'blur-residual', 'grad-x', 'grad-y', 'constant']);
  });

  it('filters the predicted clean image x − σv: identity gives x0, the others vanish on a flat image', () => {
    const x = new Float32Array(D).fill(0.5);
    const v = new Float32Array(D).fill(-1);
    const bank = filterBank(x, v, 0.5, SIDE);
    assert.ok(bank[0]!.every((u) => Math.abs(u - 1) < 1e-12));
    for (const f of [1, 2, 3, 4])
      assert.ok(
        bank[f]!.every((u) => Math.abs(u) < 1e-12),
        ADAPTER_FILTERS[f],
      );
    assert.ok(bank[5]!.every((u) => u === 1));
  });

  it('∂ℓ/∂W matches central differences', () => {
    const a = randomized(3, 0.05);
    const t = makeTransition(7, 0.75, 0.625);
    const grad = new Float64Array(a.size);
    a.logProbAndGrad(t, NOISE, SIGMA_MAX, { out: grad, scale: 1 });
    const num = numericGrad(a, () => a.logProb(t, NOISE, SIGMA_MAX), 1e-5);
    assert.ok(relErr(grad, num) < 1e-5, `rel err ${relErr(grad, num)}`);
  });

  for (const variant of ['velocity-mse', 'mean-kl'] as const) {
    it(`∂KL/∂W (${variant}) matches central differences`, () => {
      const a = randomized(4, 0.05);
      const t = makeTransition(8, 0.5, 0.375);
      const grad = new Float64Array(a.size);
      a.klAndGrad(t, variant, NOISE, SIGMA_MAX, { out: grad, scale: 1 });
      const num = numericGrad(a, () => a.klAndGrad(t, variant, NOISE, SIGMA_MAX), 1e-5);
      assert.ok(relErr(grad, num) < 1e-5, `rel err ${relErr(grad, num)}`);
    });
  }

  it('the sampler hook and the transition log-prob agree: ρ = 1 before an update', async () => {
    const a = randomized(5, 0.05);
    const gen: VelocityModel = {
      spec: { steps: 4, size: SIDE },
      imageElements: D,
      velocity: async (x, _s, _t, n) => Float32Array.from({ length: n * D }, (_, j) => 0.3 * (x[j] ?? 0) - 0.1),
    };
    const tok = new Tokenizer({
      vocab: { a: 2, red: 3 },
      bigrams: {},
      categories: { buildings: 1 },
      unk: 0,
      pad: 0,
      maxLen: 8,
    } as never);
    const prompts = [{ text: 'a red barn in fog', category: 'buildings' }];
    const r = await sampleFlow(gen, tok, prompts, {
      rng: Rng.fromSeed(1, 's'),
      sdeWindow: { start: 1, size: 2 },
      velocityOffset: a.offsetHook(prompts),
    });
    for (const t of r.transitions[0]!) {
      const lp = a.logProb({ ...t, prompt: prompts[0]!.text, category: prompts[0]!.category }, 0.9, r.sigmas[1]!);
      assert.ok(Math.abs(lp - t.logProb) < 1e-4, `${lp} vs ${t.logProb}`);
    }
  });

  it('serialises bit for bit and refuses another kind', () => {
    const a = randomized(6, 0.1);
    const b = FilterAdapter.deserialize(JSON.parse(JSON.stringify(a)));
    assert.deepEqual(b.params, a.params);
    assert.throws(
      () => FilterAdapter.deserialize({ kind: 'velocity-adapter', version: 1 } as never),
      /not a serialised filter adapter/,
    );
  });
});
