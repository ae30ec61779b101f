/**
 * Adam with bias correction and decoupled weight decay (AdamW, as `torch.optim.AdamW`), plus optional global
 * gradient-norm clipping (as `torch.nn.utils.clip_grad_norm_`). shared/docs/mini-grpo-math.md §2.
 *
 * One step with gradient g (after clipping), learning rate η, weight decay λ, t ← t + 1:
 *   θ ← θ·(1 − η·λ)                                   (decoupled decay, applied first, as torch does)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   θ ← θ − (η / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε)
 * Clipping: n = ‖g‖₂ over all parameters; if maxGradNorm/(n + 1e-6) < 1, g ← g · maxGradNorm/(n + 1e-6).
 *
 * Everything is float64 and in a fixed order, so the same inputs give the same bits; the state (m, v, t) serialises
 * as base64 of little-endian float64 bytes and restores bit-exactly.
 */

/** Encodes float64 values as base64 of their little-endian IEEE-754 bytes (bit-exact, endianness-independent). */
export function encodeFloat64(values: ArrayLike<number>): string {
  const buf = Buffer.alloc(values.length * 8);
  for (let i = 0; i < values.length; i++) buf.writeDoubleLE(values[i] ?? 0, i * 8);
  return buf.toString('base64');
}

/** Decodes `encodeFloat64`'s output; refuses malformed base64 or a length other than `expectedLength` when given. */
export function decodeFloat64(text: string, expectedLength?: number, what = 'float64 array'): Float64Array {
  if (typeof text !== 'string') throw new Error(`${what}: expected a base64 string`);
  const buf = Buffer.from(text, 'base64');
  if (buf.toString('base64') !== text) throw new Error(`${what}: not canonical base64`);
  if (buf.length % 8 !== 0) throw new Error(`${what}: ${buf.length} bytes is not a whole number of float64 values`);
  const n = buf.length / 8;
  if (expectedLength !== undefined && n !== expectedLength)
    throw new Error(`${what}: expected ${expectedLength} values, got ${n}`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readDoubleLE(i * 8);
  return out;
}

export interface AdamConfig {
  /** Learning rate η (can be overridden per step, e.g. by a schedule). */
  lr: number;
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.999 */
  beta2?: number;
  /** @default 1e-8 */
  eps?: number;
  /** Decoupled weight decay λ (AdamW). @default 0 */
  weightDecay?: number;
  /** Global gradient-norm clip; null or absent for none. */
  maxGradNorm?: number | null;
}

/** Fully resolved configuration. */
export interface ResolvedAdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number | null;
}

/** The official RealGen optimizer settings (spec §3.2): AdamW, betas (0.9, 0.999), wd 1e-4, eps 1e-8, clip 1.0. */
export const OFFICIAL_ADAMW: Omit<ResolvedAdamConfig, 'lr'> = Object.freeze({
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 1e-4,
  maxGradNorm: 1.0,
});

/** Optimizer state: first and second moments and the step count. */
export interface AdamState {
  m: Float64Array;
  v: Float64Array;
  t: number;
}

/** JSON form of an optimizer (config + state). */
export interface AdamJson {
  version: 1;
  kind: 'adam';
  size: number;
  t: number;
  config: ResolvedAdamConfig;
  /** base64 of little-endian float64 bytes. */
  m: string;
  v: string;
}

/** What one step did. */
export interface AdamStepInfo {
  /** Step count after the step. */
  t: number;
  /** ‖g‖₂ before clipping. */
  gradNorm: number;
  /** Factor the gradient was multiplied by (1 when not clipped). */
  clipScale: number;
}

function resolve(config: AdamConfig): ResolvedAdamConfig {
  const r: ResolvedAdamConfig = {
    lr: config.lr,
    beta1: config.beta1 ?? 0.9,
    beta2: config.beta2 ?? 0.999,
    eps: config.eps ?? 1e-8,
    weightDecay: config.weightDecay ?? 0,
    maxGradNorm: config.maxGradNorm ?? null,
  };
  if (!(Number.isFinite(r.lr) && r.lr >= 0)) throw new RangeError(`adam: lr must be finite and ≥ 0, got ${r.lr}`);
  if (!(r.beta1 >= 0 && r.beta1 < 1)) throw new RangeError(`adam: beta1 must be in [0, 1), got ${r.beta1}`);
  if (!(r.beta2 >= 0 && r.beta2 < 1)) throw new RangeError(`adam: beta2 must be in [0, 1), got ${r.beta2}`);
  if (!(Number.isFinite(r.eps) && r.eps >= 0)) throw new RangeError(`adam: eps must be finite and ≥ 0, got ${r.eps}`);
  if (!(Number.isFinite(r.weightDecay) && r.weightDecay >= 0))
    throw new RangeError(`adam: weightDecay must be finite and ≥ 0, got ${r.weightDecay}`);
  if (r.maxGradNorm !== null && !(Number.isFinite(r.maxGradNorm) && r.maxGradNorm > 0)) {
    throw new RangeError(`adam: maxGradNorm must be > 0 or null, got ${r.maxGradNorm}`);
  }
  return r;
}

/** ‖g‖₂, accumulated in index order. */
export function l2Norm(g: ArrayLike<number>): number {
  let sq = 0;
  for (let i = 0; i < g.length; i++) {
    const x = g[i] ?? 0;
    sq += x * x;
  }
  return Math.sqrt(sq);
}

export class Adam {
  readonly config: ResolvedAdamConfig;
  readonly size: number;
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t: number;

  constructor(size: number, config: AdamConfig, state?: AdamState) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`adam: size must be a non-negative integer, got ${size}`);
    this.size = size;
    this.config = resolve(config);
    if (state !== undefined) {
      if (state.m.length !== size || state.v.length !== size)
        throw new Error(`adam: state has ${state.m.length}/${state.v.length} moments for ${size} parameters`);
      if (!Number.isInteger(state.t) || state.t < 0)
        throw new Error(`adam: state step count must be a non-negative integer, got ${state.t}`);
      this.m = Float64Array.from(state.m);
      this.v = Float64Array.from(state.v);
      this.t = state.t;
    } else {
      this.m = new Float64Array(size);
      this.v = new Float64Array(size);
      this.t = 0;
    }
  }

  /** Number of steps taken. */
  get stepCount(): number {
    return this.t;
  }

  /**
   * Updates `params` in place with gradient `grad` (not modified). `lr` overrides the configured learning rate for
   * this step. A non-finite gradient norm is refused before anything changes.
   */
  step(params: Float64Array, grad: ArrayLike<number>, lr = this.config.lr): AdamStepInfo {
    if (params.length !== this.size || grad.length !== this.size) {
      throw new Error(`adam: expected ${this.size} parameters and gradients, got ${params.length} and ${grad.length}`);
    }
    if (!(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`adam: lr must be finite and ≥ 0, got ${lr}`);
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = this.config;
    const gradNorm = l2Norm(grad);
    if (!Number.isFinite(gradNorm)) throw new RangeError(`adam: non-finite gradient norm (${gradNorm})`);
    let clipScale = 1;
    if (maxGradNorm !== null) {
      const coef = maxGradNorm / (gradNorm + 1e-6);
      if (coef < 1) clipScale = coef;
    }
    this.t += 1;
    const bc1 = 1 - Math.pow(beta1, this.t);
    const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, this.t));
    const stepSize = lr / bc1;
    const decay = 1 - lr * weightDecay;
    const m = this.m;
    const v = this.v;
    for (let i = 0; i < this.size; i++) {
      const g = clipScale === 1 ? (grad[i] ?? 0) : (grad[i] ?? 0) * clipScale;
      let p = params[i] ?? 0;
      if (weightDecay !== 0) p *= decay;
      const mi = beta1 * (m[i] ?? 0) + (1 - beta1) * g;
      const vi = beta2 * (v[i] ?? 0) + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] = p - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
    }
    return { t: this.t, gradNorm, clipScale };
  }

  /** A copy of the state. */
  state(): AdamState {
    return { m: Float64Array.from(this.m), v: Float64Array.from(this.v), t: this.t };
  }

  /** JSON-safe, bit-exact form. */
  serialize(): AdamJson {
    return {
      version: 1,
      kind: 'adam',
      size: this.size,
      t: this.t,
      config: { ...this.config },
      m: encodeFloat64(this.m),
      v: encodeFloat64(this.v),
    };
  }

  toJSON(): AdamJson {
    return this.serialize();
  }

  /** Restores `serialize()`'s output; `config` overrides the stored hyper-parameters when given. */
  static deserialize(json: AdamJson, config?: AdamConfig): Adam {
    if (json === null || typeof json !== 'object' || json.kind !== 'adam' || json.version !== 1)
      throw new Error('adam: not a serialised optimizer (kind "adam", version 1)');
    if (!Number.isInteger(json.size) || json.size < 0) throw new Error(`adam: bad size ${String(json.size)}`);
    const m = decodeFloat64(json.m, json.size, 'adam m');
    const v = decodeFloat64(json.v, json.size, 'adam v');
    return new Adam(json.size, config ?? json.config, { m, v, t: json.t });
  }
}
