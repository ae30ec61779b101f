import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Adam } from '../../../domain/grpo/adam';
import type { Descriptors, PolicyReference, SlotMatrix } from '../../../domain/grpo/prompt-policy';
import { PROMPT_CATEGORIES, PromptPolicy, fnv1a32, promptFeatureDim, promptFeatures } from '../../../domain/grpo/prompt-policy';
import { numericGrad, relErr } from '../../helpers/gradient-check';
import { Rng } from '../../../lib/random';

const repo = path.resolve(__dirname, '..', '..', '..');
const descriptors = JSON.parse(
  readFileSync(path.join(repo, 'models', 'realgen-mini', 'descriptors.json'), 'utf8'),
) as Descriptors;

const flatten = (ms: SlotMatrix[]) => Float64Array.from(ms.flatMap((m) => [...m.data]));

function randomPolicy(seed: number, scale = 0.8): PromptPolicy {
  return PromptPolicy.create(descriptors, { init: 'uniform', rng: Rng.fromSeed(seed, 'policy'), scale });
}

describe('prompt features', () => {
  it('lays out category one-hot, hashed words scaled by 1/sqrt(#words), and a bias', () => {
    const phi = promptFeatures('A red fox, a RED fox', 'animals');
    assert.equal(phi.length, 7 + 64 + 1);
    assert.equal(promptFeatureDim(), 72);
    assert.equal(phi[0], 1);
    for (let c = 1; c < 7; c++) assert.equal(phi[c], 0);
    assert.equal(phi[71], 1);
    // 6 words: a, red, fox, a, red, fox → each distinct word adds 2/sqrt(6) to its bucket (barring collisions).
    const w = 1 / Math.sqrt(6);
    const buckets = new Map<number, number>();
    for (const word of ['a', 'red', 'fox', 'a', 'red', 'fox']) {
      const b = 7 + (fnv1a32(word) % 64);
      buckets.set(b, (buckets.get(b) ?? 0) + w);
    }
    for (let i = 7; i < 71; i++) assert.ok(Math.abs((phi[i] ?? 0) - (buckets.get(i) ?? 0)) < 1e-15);
    const none = promptFeatures('', null);
    assert.equal(
      none.reduce((a, b) => a + b, 0),
      1,
      'no category and no words leave only the bias',
    );
    assert.throws(() => promptFeatures('x', 'cars'), /unknown category/);
    assert.equal(PROMPT_CATEGORIES.length, 7);
  });

  it('uses 32-bit FNV-1a', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  });
});

describe('PromptPolicy', () => {
  it('takes the slots of descriptors.json in order, and starts uniform with init zeros', () => {
    const policy = PromptPolicy.create(descriptors);
    assert.deepEqual(
      policy.slots.map((s) => s.name),
      ['camera', 'lens', 'lighting', 'texture', 'imperfection', 'grain'],
    );
    assert.equal(policy.size, 6 * 9 * 72);
    const phi = policy.features('an old church at dusk', 'buildings');
    for (const p of policy.probs(phi)) for (const x of p) assert.ok(Math.abs(x - 1 / 9) < 1e-15);
    assert.ok(Math.abs(policy.logProb(phi, [0, 1, 2, 3, 4, 5]) - 6 * Math.log(1 / 9)) < 1e-12);
    assert.equal(policy.kl(phi, 'uniform'), 0);
    assert.equal(policy.kl(phi, 'initial'), 0);
  });

  it('has probabilities that sum to 1 and ℓ = Σ_s log p_s[a_s]', () => {
    const policy = randomPolicy(3, 2);
    const phi = policy.features('a bowl of ramen', 'dishes');
    const probs = policy.probs(phi);
    for (const p of probs) {
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-14);
      for (const x of p) assert.ok(x > 0);
    }
    const action = [8, 0, 3, 1, 2, 7];
    const expected = action.reduce((acc, a, s) => acc + Math.log(probs[s]?.[a] ?? NaN), 0);
    assert.ok(Math.abs(policy.logProb(phi, action) - expected) < 1e-12);
  });

  it('gradLogProb matches central differences (relative error < 1e-6)', () => {
    const policy = randomPolicy(11);
    for (const [text, cat] of [
      ['portrait of an old fisherman', 'people'],
      ['sunflowers in a field', null],
    ] as const) {
      const phi = policy.features(text, cat);
      const action = policy.sample(phi, Rng.fromSeed(5, text));
      const analytic = flatten(policy.gradLogProb(phi, action));
      const numeric = numericGrad(policy, () => policy.logProb(phi, action));
      const err = relErr(analytic, numeric);
      assert.ok(err < 1e-6, `relative error ${err}`);
      // The per-slot matrices are (e_a − p) φᵀ.
      const g0 = policy.gradLogProb(phi, action)[0];
      const p0 = policy.probs(phi)[0];
      assert.ok(g0 !== undefined && p0 !== undefined);
      assert.equal(g0.rows, 9);
      assert.equal(g0.cols, 72);
      const k = 4;
      const c = 71;
      assert.ok(Math.abs((g0.data[k * 72 + c] ?? NaN) - ((k === action[0] ? 1 : 0) - (p0[k] ?? 0)) * (phi[c] ?? 0)) < 1e-15);
    }
  });

  for (const reference of ['uniform', 'initial'] as PolicyReference[]) {
    it(`gradKl (reference ${reference}) matches central differences (relative error < 1e-6)`, () => {
      const policy = randomPolicy(21);
      // Move away from the initial weights so that the 'initial' KL is not at its minimum.
      const r = Rng.fromSeed(99);
      for (let i = 0; i < policy.size; i++) policy.params[i] = (policy.params[i] ?? 0) + 0.5 * r.normal();
      const phi = policy.features('a cozy reading nook with plants', 'indoor_view');
      const kl = policy.kl(phi, reference);
      assert.ok(kl > 1e-3, `kl ${kl}`);
      const analytic = flatten(policy.gradKl(phi, reference));
      const numeric = numericGrad(policy, () => policy.kl(phi, reference));
      const err = relErr(analytic, numeric);
      assert.ok(err < 1e-6, `relative error ${err}`);
      // KL per slot is Σ p (log p − log q) ≥ 0.
      for (const k of policy.klPerSlot(phi, reference)) assert.ok(k >= 0);
    });
  }

  it('accumulates scaled gradients into a flat vector for Adam', () => {
    const policy = randomPolicy(4);
    const phi = policy.features('a harbour at dawn', 'outdoor_view');
    const action = [1, 2, 3, 4, 5, 6];
    const out = new Float64Array(policy.size);
    policy.addGradLogProb(phi, action, -0.5, out);
    policy.addGradKl(phi, 'uniform', 0.01, out);
    const g1 = flatten(policy.gradLogProb(phi, action));
    const g2 = flatten(policy.gradKl(phi, 'uniform'));
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs((out[i] ?? 0) - (-0.5 * (g1[i] ?? 0) + 0.01 * (g2[i] ?? 0))) < 1e-15);
    // One Adam step along −∂ℓ·(−A) with A > 0 raises ℓ of the chosen action.
    const before = policy.logProb(phi, action);
    const grad = new Float64Array(policy.size);
    policy.addGradLogProb(phi, action, -1, grad); // loss gradient with coefficient c = −A·ρ = −1
    new Adam(policy.size, { lr: 0.01 }).step(policy.params, grad);
    assert.ok(policy.logProb(phi, action) > before);
  });

  it('samples deterministically for a seed, with frequencies following p', () => {
    const policy = randomPolicy(8, 1.5);
    const phi = policy.features('a tabby cat on a windowsill', 'animals');
    const draw = (seed: number) => Array.from({ length: 20 }, (_, i) => policy.sample(phi, Rng.fromSeed(seed, i)));
    assert.deepEqual(draw(1), draw(1));
    assert.notDeepEqual(draw(1), draw(2));
    const rng = Rng.fromSeed(123);
    const counts = new Array<number>(9).fill(0);
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const a = policy.sample(phi, rng)[0] ?? -1;
      counts[a] = (counts[a] ?? 0) + 1;
    }
    const p = policy.probs(phi)[0] ?? new Float64Array(0);
    counts.forEach((c, k) => assert.ok(Math.abs(c / n - (p[k] ?? 0)) < 0.015, `option ${k}: ${c / n} vs ${p[k]}`));
  });

  it('rewrites a prompt by appending the chosen phrases, skipping "none"', () => {
    const policy = PromptPolicy.create(descriptors);
    assert.equal(
      policy.rewrite('a red fox in snow', [1, 0, 7, 0, 2, 3]),
      'a red fox in snow, captured on a fujifilm camera, golden hour, stray hairs, fine grain',
    );
    assert.equal(policy.rewrite('a red fox in snow', [0, 0, 0, 0, 0, 0]), 'a red fox in snow');
    assert.equal(policy.rewrite('an old church at dusk. ', [0, 6, 0, 0, 0, 0]), 'an old church at dusk, bokeh');
    assert.equal(policy.rewrite('', [0, 0, 0, 0, 0, 1]), 'slight grain');
    assert.deepEqual(policy.phrases([3, 0, 0, 0, 0, 8]), ['taken with an iphone', 'digital noise']);
    assert.throws(() => policy.rewrite('x', [0, 0, 0, 0, 0, 9]), /outside \[0, 9\)/);
    assert.throws(() => policy.rewrite('x', [0, 0]), /expected 6 slot choices/);
  });

  it('round-trips through JSON bit-exactly, including the KL reference', () => {
    const policy = randomPolicy(31);
    for (let i = 0; i < policy.size; i += 7) policy.params[i] = (policy.params[i] ?? 0) + 1 / 3;
    const restored = PromptPolicy.deserialize(JSON.parse(JSON.stringify(policy)) as ReturnType<PromptPolicy['serialize']>);
    const bytes = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    assert.ok(bytes(restored.params).equals(bytes(policy.params)));
    const phi = policy.features('a quiet street after rain', 'outdoor_view');
    assert.equal(restored.kl(phi, 'initial'), policy.kl(phi, 'initial'));
    assert.ok(policy.kl(phi, 'initial') > 0);
    assert.deepEqual(restored.serialize(), policy.serialize());
    assert.throws(() => PromptPolicy.deserialize({ ...policy.serialize(), buckets: 32 }), /expected \d+ values/);
    assert.throws(() => PromptPolicy.create(descriptors, { init: 'uniform' }), /needs an rng/);
  });
});
