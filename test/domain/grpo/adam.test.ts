import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Adam, OFFICIAL_ADAMW, decodeFloat64, encodeFloat64, l2Norm } from '../../../domain/grpo/adam';

const close = (actual: number, expected: number, tol = 1e-12, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what} ${actual} vs ${expected}`);

const bytes = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('Adam', () => {
  it('matches the hand-computed first two steps (no decay, no clipping)', () => {
    const opt = new Adam(3, { lr: 0.1 });
    const p = Float64Array.from([1, -2, 0.5]);
    // Step 1: m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g² → θ −= 0.1·g/(|g| + 1e-8); a zero gradient leaves θ alone.
    opt.step(p, [0.3, -0.4, 0]);
    close(p[0] ?? NaN, 1 - (0.1 * 0.3) / (0.3 + 1e-8), 1e-15, 'p0');
    close(p[1] ?? NaN, -2 + (0.1 * 0.4) / (0.4 + 1e-8), 1e-15, 'p1');
    assert.equal(p[2], 0.5);
    let s = opt.state();
    assert.equal(s.t, 1);
    close(s.m[0] ?? NaN, 0.03);
    close(s.v[1] ?? NaN, 0.00016);
    // Step 2, g = (0.1, 0.2, −0.5): m = 0.9·m + 0.1·g, v = 0.999·v + 0.001·g², m̂ = m/(1 − 0.81), v̂ = v/(1 − 0.998001).
    // element 0: m = 0.027 + 0.01 = 0.037, v = 0.00008991 + 0.00001 = 0.00009991
    //   θ = 0.9000000033333 − 0.1·(0.037/0.19)/(sqrt(0.00009991/0.001999) + 1e-8) = 0.8128936121571956
    // element 1: m = −0.036 + 0.02 = −0.016, v = 0.00015984 + 0.00004 = 0.00019984 → θ = −1.8733662993763178
    // element 2: m = −0.05, v = 0.00025 → m̂ = −0.05/0.19, sqrt(v̂) = sqrt(0.00025/0.001999) → θ = 0.5744136802524877
    opt.step(p, [0.1, 0.2, -0.5]);
    s = opt.state();
    assert.equal(s.t, 2);
    close(s.m[0] ?? NaN, 0.037);
    close(s.v[0] ?? NaN, 0.00009991);
    close(s.m[1] ?? NaN, -0.016);
    close(s.v[1] ?? NaN, 0.00019984);
    close(p[0] ?? NaN, 0.8128936121571956, 1e-13, 'p0');
    close(p[1] ?? NaN, -1.8733662993763178, 1e-13, 'p1');
    close(p[2] ?? NaN, 0.5744136802524877, 1e-13, 'p2');
    close(p[2] ?? NaN, 0.5 - (0.1 * (-0.05 / 0.19)) / (Math.sqrt(0.00025 / 0.001999) + 1e-8), 1e-13, 'p2 formula');
  });

  it('applies decoupled weight decay before the Adam update (AdamW)', () => {
    const opt = new Adam(2, { lr: 0.01, weightDecay: 0.1 });
    const p = Float64Array.from([2, -3]);
    opt.step(p, [0.5, 0]);
    // θ·(1 − ηλ) = 2·0.999, then − η·g/(|g| + ε); the zero-gradient element only decays.
    close(p[0] ?? NaN, 2 * 0.999 - (0.01 * 0.5) / (0.5 + 1e-8), 1e-15);
    close(p[1] ?? NaN, -3 * 0.999, 1e-15);
  });

  it('clips the global gradient norm like clip_grad_norm_, and reports the norm', () => {
    const opt = new Adam(2, { lr: 0.1, maxGradNorm: 1 });
    const p = Float64Array.from([0, 0]);
    const g = [3, 4];
    const info = opt.step(p, g);
    assert.equal(info.gradNorm, 5);
    const scale = 1 / (5 + 1e-6);
    assert.equal(info.clipScale, scale);
    assert.deepEqual(g, [3, 4], 'the gradient is not modified');
    const s = opt.state();
    close(s.m[0] ?? NaN, 0.1 * 3 * scale, 1e-15);
    close(s.v[1] ?? NaN, 0.001 * (4 * scale) ** 2, 1e-15);
    // Below the threshold nothing is scaled.
    const opt2 = new Adam(2, { lr: 0.1, maxGradNorm: 1 });
    assert.equal(opt2.step(Float64Array.from([0, 0]), [0.3, 0.4]).clipScale, 1);
  });

  it('uses the official AdamW settings', () => {
    assert.deepEqual({ ...OFFICIAL_ADAMW }, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, maxGradNorm: 1 });
    const opt = new Adam(1, { lr: 1e-4, ...OFFICIAL_ADAMW });
    assert.deepEqual(opt.config, { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, maxGradNorm: 1 });
  });

  it('resumes bit-for-bit from a JSON round trip', () => {
    const n = 17;
    const grads = (k: number) => Array.from({ length: n }, (_, i) => Math.sin(0.37 * i + 1.3 * k) * (1 + k) * 0.7);
    const a = new Adam(n, { lr: 3e-3, ...OFFICIAL_ADAMW });
    const pa = Float64Array.from({ length: n }, (_, i) => Math.cos(i) / 3);
    for (let k = 0; k < 3; k++) a.step(pa, grads(k));
    const saved = JSON.parse(JSON.stringify({ opt: a, params: encodeFloat64(pa) })) as {
      opt: ReturnType<Adam['serialize']>;
      params: string;
    };
    const b = Adam.deserialize(saved.opt);
    const pb = decodeFloat64(saved.params, n);
    assert.equal(b.stepCount, 3);
    for (let k = 3; k < 6; k++) {
      a.step(pa, grads(k));
      b.step(pb, grads(k));
    }
    assert.ok(bytes(pa).equals(bytes(pb)));
    assert.ok(bytes(a.state().m).equals(bytes(b.state().m)));
    assert.ok(bytes(a.state().v).equals(bytes(b.state().v)));
    assert.deepEqual(b.serialize(), a.serialize());
  });

  it('refuses mismatched sizes, non-finite gradients and malformed state', () => {
    const opt = new Adam(2, { lr: 0.1 });
    assert.throws(() => opt.step(new Float64Array(3), [1, 2, 3]), /expected 2 parameters/);
    const p = Float64Array.from([1, 2]);
    assert.throws(() => opt.step(p, [NaN, 0]), /non-finite gradient norm/);
    assert.equal(opt.stepCount, 0, 'a refused step changes nothing');
    assert.deepEqual([...p], [1, 2]);
    const json = opt.serialize();
    assert.throws(() => Adam.deserialize({ ...json, m: encodeFloat64([1]) }), /expected 2 values/);
    assert.throws(() => Adam.deserialize({ ...json, v: '@@@' }), /base64/);
    assert.throws(() => new Adam(2, { lr: 0.1, beta1: 1 }), /beta1/);
  });

  it('encodes float64 values bit-exactly', () => {
    const values = [0, -0, 1 / 3, -1e-308, 5e-324, Number.MAX_VALUE, Infinity, -Infinity, Math.PI];
    const round = decodeFloat64(encodeFloat64(values));
    values.forEach((v, i) => assert.ok(Object.is(round[i], v), `${v}`));
    assert.equal(l2Norm([3, 4]), 5);
  });
});
