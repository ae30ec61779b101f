/**
 * Stage 2 with weight sharing (issue 15): a velocity adapter whose offset is a few fixed filters of the predicted
 * clean image, mixed per colour channel with coefficients conditioned on the prompt and σ.
 *
 *   x̂0 = x − σ·v                         (rectified flow: x = (1−σ)x0 + σε, v = ε − x0 ⇒ x − σv = x0)
 *   F_f(x̂0), f ∈ {identity, Laplacian, blur residual x̂0 − B x̂0, ∂x, ∂y, constant 1}   (per channel, edges clamped)
 *   a_{c,f} = Σ_r W[c,f,r]·ψ_r,   ψ = ψ(c_text, σ) the VelocityAdapter's prompt ⊗ σ features (m = 48)
 *   u_{c,p} = Σ_f a_{c,f}·F_f(x̂0)_{c,p}
 * 3 channels × 6 filters × 48 = 864 parameters instead of 589,824: every pixel shares them, so a direction that
 * raises the reward in one image (e.g. more high-frequency detail) is learned for all.
 *
 * x̂0 depends on x and the frozen base velocity only, both recorded with each transition, so u is linear in W and
 * the gradients stay closed form (the sampling-time offset uses the same float64 arithmetic, rounded to float32):
 *   ∂ℓ/∂u_j = (x'_j − μθ,j)·κ/(τ²D)                                  (as VelocityAdapter)
 *   ∂ℓ/∂W[c,f,r] = ψ_r · Σ_p ∂ℓ/∂u_{c,p} · F_f(x̂0)_{c,p}
 * KL terms and their ∂/∂u are the VelocityAdapter's ('velocity-mse' mean u², 'mean-kl' mean (κu)²/(2τ²)).
 */
import type { SamplePrompt } from '../mini/flow-sampler';
import { sdeCoefficients, sdeMean } from '../mini/sde';
import { decodeFloat64, encodeFloat64 } from './adam';
import { PROMPT_CATEGORIES } from './prompt-policy';
import { VelocityAdapter, type AdapterKlVariant, type AdapterStep, type AdapterTransition } from './velocity-adapter';

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** The fixed filters, in parameter order. */
export const ADAPTER_FILTERS = ['identity', 'laplacian', 'blur-residual', 'grad-x', 'grad-y', 'constant'] as const;

export interface FilterAdapterJson {
  version: 1;
  kind: 'filter-adapter';
  side: number;
  wordBuckets: number;
  sigmaDegree: number;
  categories: string[];
  filters: string[];
  /** W, [channel][filter][feature] row-major, base64 of little-endian float64 bytes. */
  W: string;
}

export interface FilterAdapterOptions {
  /** Image side (square, 3 channels). @default 64 */
  side?: number;
  wordBuckets?: number;
  categories?: readonly string[];
  sigmaDegree?: number;
}

/** The step a filter-adapter offset is computed at: the current state and the base velocity. */
export interface FilterInput {
  x: ArrayLike<number>;
  v: ArrayLike<number>;
  sigma: number;
}

/** F_f(x̂0) for every filter: [filter][channel·plane + pixel], float64. */
export function filterBank(x: ArrayLike<number>, v: ArrayLike<number>, sigma: number, size: number): Float64Array[] {
  const plane = size * size;
  const D = 3 * plane;
  const x0 = new Float64Array(D);
  for (let j = 0; j < D; j++) x0[j] = (x[j] ?? 0) - sigma * (v[j] ?? 0);
  const out = ADAPTER_FILTERS.map(() => new Float64Array(D));
  const [id, lap, res, gx, gy, one] = out as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  const at = (c: number, yy: number, xx: number) =>
    x0[c * plane + Math.min(size - 1, Math.max(0, yy)) * size + Math.min(size - 1, Math.max(0, xx))] as number;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      for (let xq = 0; xq < size; xq++) {
        const j = c * plane + y * size + xq;
        const ctr = x0[j] as number;
        const n = at(c, y - 1, xq);
        const s = at(c, y + 1, xq);
        const w = at(c, y, xq - 1);
        const e = at(c, y, xq + 1);
        const blur =
          (4 * ctr +
            2 * (n + s + w + e) +
            at(c, y - 1, xq - 1) +
            at(c, y - 1, xq + 1) +
            at(c, y + 1, xq - 1) +
            at(c, y + 1, xq + 1)) /
          16;
        id[j] = ctr;
        lap[j] = n + s + w + e - 4 * ctr;
        res[j] = ctr - blur;
        gx[j] = (e - w) / 2;
        gy[j] = (s - n) / 2;
        one[j] = 1;
      }
    }
  }
  return out;
}

export class FilterAdapter {
  /** Image side (square, 3 channels). */
  readonly side: number;
  readonly D: number;
  readonly nFilters = ADAPTER_FILTERS.length;
  /** ψ features (the VelocityAdapter's prompt ⊗ σ basis); only its feature functions are used. */
  private readonly psiOf: VelocityAdapter;
  readonly m: number;
  /** W, [3][nFilters][m] row-major. Live: Adam updates it in place. */
  readonly params: Float64Array;

  private constructor(
    side: number,
    wordBuckets: number,
    sigmaDegree: number,
    categories: readonly string[],
    params: Float64Array | null,
  ) {
    if (!Number.isInteger(side) || side < 3) throw new RangeError(`filter adapter: side must be an integer ≥ 3, got ${side}`);
    this.side = side;
    this.D = 3 * side * side;
    this.psiOf = VelocityAdapter.create({ D: 1, wordBuckets, sigmaDegree, categories });
    this.m = this.psiOf.m;
    const n = 3 * this.nFilters * this.m;
    if (params !== null && params.length !== n) throw new Error(`filter adapter: expected ${n} weights, got ${params.length}`);
    this.params = params ?? new Float64Array(n);
  }

  /** W = 0: the adapter starts as the identity (u = 0). */
  static create(opts: FilterAdapterOptions = {}): FilterAdapter {
    return new FilterAdapter(
      opts.side ?? 64,
      opts.wordBuckets ?? 8,
      opts.sigmaDegree ?? 2,
      opts.categories ?? PROMPT_CATEGORIES,
      null,
    );
  }

  /** Number of parameters (Adam's size), as VelocityAdapter.size. */
  get size(): number {
    return this.params.length;
  }

  features(prompt: string, category: string | null | undefined, sigma: number): Float64Array {
    return this.psiOf.features(prompt, category, sigma);
  }

  /** a_{c,f} = Σ_r W[c,f,r] ψ_r, [c·nFilters + f]. */
  private coefficients(psi: Float64Array): Float64Array {
    const a = new Float64Array(3 * this.nFilters);
    const m = this.m;
    for (let k = 0; k < a.length; k++) {
      let s = 0;
      for (let r = 0; r < m; r++) s += (this.params[k * m + r] as number) * (psi[r] as number);
      a[k] = s;
    }
    return a;
  }

  /** u in float64, with the filter bank it was made from. */
  velocity(input: FilterInput, psi: Float64Array): { u: Float64Array; bank: Float64Array[] } {
    const bank = filterBank(input.x, input.v, input.sigma, this.side);
    const a = this.coefficients(psi);
    const plane = this.side * this.side;
    const u = new Float64Array(this.D);
    for (let c = 0; c < 3; c++) {
      for (let f = 0; f < this.nFilters; f++) {
        const af = a[c * this.nFilters + f] as number;
        if (af === 0) continue;
        const F = bank[f] as Float64Array;
        for (let p = c * plane; p < (c + 1) * plane; p++) u[p] = (u[p] as number) + af * (F[p] as number);
      }
    }
    return { u, bank };
  }

  /** A `velocityOffset` hook for `sampleFlow` over `prompts` (rewritten prompts, in batch order). */
  offsetHook(
    prompts: readonly SamplePrompt[],
  ): (index: number, sigma: number, step: number, x?: Float32Array, v?: Float32Array) => Float32Array {
    return (index, sigma, _step, x, v) => {
      const p = prompts[index];
      if (p === undefined) throw new RangeError(`filter adapter: no prompt ${index}`);
      if (x === undefined || v === undefined)
        throw new Error('filter adapter: the sampler must pass x and the base velocity to the offset hook');
      return Float32Array.from(this.velocity({ x, v, sigma }, this.features(p.text, p.category, sigma)).u);
    };
  }

  /** out += scale·∂/∂W of Σ_j g_j u_j, given the bank and ψ of that u. */
  addChain(g: ArrayLike<number>, bank: Float64Array[], psi: Float64Array, scale: number, out: Float64Array): void {
    const plane = this.side * this.side;
    const m = this.m;
    for (let c = 0; c < 3; c++) {
      for (let f = 0; f < this.nFilters; f++) {
        const F = bank[f] as Float64Array;
        let s = 0;
        for (let p = c * plane; p < (c + 1) * plane; p++) s += (g[p] as number) * (F[p] as number);
        s *= scale;
        if (s === 0) continue;
        const row = (c * this.nFilters + f) * m;
        for (let r = 0; r < m; r++) out[row + r] = (out[row + r] as number) + s * (psi[r] as number);
      }
    }
  }

  /** ℓ_θ of a recorded transition and its gradient added to `grad` with `scale` (when given). */
  logProbAndGrad(
    t: AdapterTransition,
    noiseLevel: number,
    sigmaMax: number,
    grad?: { out: Float64Array; scale: number },
  ): number {
    if (t.x.length !== this.D || t.xNext.length !== this.D || t.v.length !== this.D) {
      throw new Error(
        `filter adapter: transition has ${t.x.length}/${t.xNext.length}/${t.v.length} elements, expected D = ${this.D}`,
      );
    }
    const c = sdeCoefficients(t.sigma, t.sigmaNext, noiseLevel, sigmaMax);
    const psi = this.features(t.prompt, t.category, t.sigma);
    const { u, bank } = this.velocity({ x: t.x, v: t.v, sigma: t.sigma }, psi);
    const muBase = sdeMean(t.x, t.v, c);
    const D = this.D;
    const kappa = c.kv;
    const gscale = kappa / (c.tau * c.tau * D);
    const dLdu = new Float64Array(D);
    let sq = 0;
    for (let j = 0; j < D; j++) {
      const r = (t.xNext[j] as number) - ((muBase[j] as number) + kappa * (u[j] as number));
      sq += r * r;
      dLdu[j] = r * gscale;
    }
    if (grad && grad.scale !== 0) this.addChain(dLdu, bank, psi, grad.scale, grad.out);
    return -sq / (2 * c.tau * c.tau * D) - Math.log(c.tau) - LOG_SQRT_2PI;
  }

  logProb(t: AdapterTransition, noiseLevel: number, sigmaMax: number): number {
    return this.logProbAndGrad(t, noiseLevel, sigmaMax);
  }

  /** KL to the base model (unscaled; the loss adds β·KL) at a recorded transition; gradient added with `scale`. */
  klAndGrad(
    t: AdapterStep & { x: ArrayLike<number>; v: ArrayLike<number> },
    variant: AdapterKlVariant,
    noiseLevel: number,
    sigmaMax: number,
    grad?: { out: Float64Array; scale: number },
  ): number {
    const psi = this.features(t.prompt, t.category, t.sigma);
    const { u, bank } = this.velocity({ x: t.x, v: t.v, sigma: t.sigma }, psi);
    const D = this.D;
    let sq = 0;
    for (let j = 0; j < D; j++) sq += (u[j] as number) ** 2;
    let g: number;
    let kl: number;
    if (variant === 'velocity-mse') {
      g = 2 / D;
      kl = sq / D;
    } else if (variant === 'mean-kl') {
      const c = sdeCoefficients(t.sigma, t.sigmaNext, noiseLevel, sigmaMax);
      g = (c.kv * c.kv) / (c.tau * c.tau * D);
      kl = (c.kv * c.kv * sq) / (2 * c.tau * c.tau * D);
    } else throw new Error(`filter adapter: unknown KL variant ${JSON.stringify(variant)}`);
    if (grad && grad.scale !== 0) {
      const dKdu = new Float64Array(D);
      for (let j = 0; j < D; j++) dKdu[j] = g * (u[j] as number);
      this.addChain(dKdu, bank, psi, grad.scale, grad.out);
    }
    return kl;
  }

  serialize(): FilterAdapterJson {
    return {
      version: 1,
      kind: 'filter-adapter',
      side: this.side,
      wordBuckets: this.psiOf.wordBuckets,
      sigmaDegree: this.psiOf.sigmaDegree,
      categories: [...this.psiOf.categories],
      filters: [...ADAPTER_FILTERS],
      W: encodeFloat64(this.params),
    };
  }

  toJSON(): FilterAdapterJson {
    return this.serialize();
  }

  static deserialize(json: FilterAdapterJson): FilterAdapter {
    if (json === null || typeof json !== 'object' || json.kind !== 'filter-adapter' || json.version !== 1) {
      throw new Error('not a serialised filter adapter (kind "filter-adapter", version 1)');
    }
    if (!Array.isArray(json.filters) || json.filters.join(',') !== ADAPTER_FILTERS.join(',')) {
      throw new Error(
        `filter adapter: filters ${JSON.stringify(json.filters)} are not this version's ${JSON.stringify(ADAPTER_FILTERS)}`,
      );
    }
    const a = new FilterAdapter(json.side, json.wordBuckets, json.sigmaDegree, json.categories, null);
    a.params.set(decodeFloat64(json.W, a.params.length, 'filter adapter W'));
    return a;
  }
}
