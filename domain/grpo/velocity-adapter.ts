/**
 * Stage 2: Flow-GRPO through an additive velocity adapter (shared/docs/mini-grpo-math.md §4).
 *
 *   v_θ = v + u_θ,  u_θ = A ψ(c, σ),  A ∈ R^{D×m} (row-major, A[j·m + r]), initialised to 0 (adapter = identity)
 *   ψ(c, σ) = t(c) ⊗ b(σ), ψ[i·nb + k] = t_i·b_k, m = textDim·nb
 *   t(c) = [ 1 | category one-hot | signed hashed words (wordBuckets) ], textDim = 1 + #categories + wordBuckets
 *          each lowercase `[a-z0-9]+` word w of the (stage-1-rewritten) prompt adds ±1/sqrt(#words) to bucket
 *          FNV-1a(w) mod wordBuckets, the sign taken from bit 16 of the hash (a fixed random projection)
 *   b(σ) = [1, σ, …, σ^degree]
 *
 * For a recorded SDE transition (x → x', base velocity v, σ → σ') with the coefficients of domain/mini/sde.ts,
 * κ = kv = (1 + s_t²(1−σ)/(2σ))·dt, τ = s_t·sqrt(−dt), μ_base = kx·x + kv·v (float32, exactly as the sampler):
 *   μ_θ = μ_base + κ·u_θ
 *   ℓ_θ = −Σ_j (x'_j − μ_θ,j)² / (2τ²D) − log τ − log sqrt(2π)      (D-mean convention)
 *   ∂ℓ/∂u_j = (x'_j − μ_θ,j)·κ / (τ²D),  ∂ℓ/∂A = (∂ℓ/∂u) ψᵀ
 * KL to the base model (adapter off), unscaled (the loss adds β·KL):
 *   'velocity-mse' (V1 guard): mean_j u_j²,              ∂/∂u_j = 2u_j / D
 *   'mean-kl'      (fusion):   mean_j (κu_j)² / (2τ²),   ∂/∂u_j = κ²u_j / (τ²D)
 * u, μ_θ and ℓ_θ are float64 so that ℓ_θ is a smooth function of A; `offset()` rounds u to float32 for the sampler.
 */
import type { SamplePrompt } from '../mini/flow-sampler';
import { sdeCoefficients, sdeMean } from '../mini/sde';
import { Tokenizer } from '../mini/tokenizer';
import { decodeFloat64, encodeFloat64 } from './adam';
import { PROMPT_CATEGORIES, categoryIndex, fnv1a32 } from './prompt-policy';

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** realgen-mini image elements: 3·64·64. */
export const MINI_IMAGE_ELEMENTS = 3 * 64 * 64;

export type AdapterKlVariant = 'velocity-mse' | 'mean-kl';

export interface VelocityAdapterOptions {
  /** Image elements D. @default 12288 (3·64·64) */
  D?: number;
  /** Signed hashed word buckets of the text features. @default 8 (textDim 16 with the 7 categories) */
  wordBuckets?: number;
  /** Category one-hot block. @default PROMPT_CATEGORIES */
  categories?: readonly string[];
  /** Degree of the polynomial σ basis [1, σ, …]. @default 2 */
  sigmaDegree?: number;
}

/** The prompt and step of a transition (what the KL terms need). */
export interface AdapterStep {
  prompt: string;
  category?: string | null;
  sigma: number;
  sigmaNext: number;
}

/** A recorded transition (domain/mini/flow-sampler.ts `Transition`) with the prompt it was sampled for. */
export interface AdapterTransition extends AdapterStep {
  x: Float32Array;
  xNext: Float32Array;
  /** Base velocity (adapter excluded). */
  v: Float32Array;
}

export interface VelocityAdapterJson {
  version: 1;
  kind: 'velocity-adapter';
  D: number;
  wordBuckets: number;
  sigmaDegree: number;
  categories: string[];
  /** A, row-major D×m, base64 of little-endian float64 bytes. */
  A: string;
}

/** ℓ_θ with ∂ℓ/∂u and the features ψ it was computed with (∂ℓ/∂A = dLdu ψᵀ). */
export interface AdapterLogProb {
  logProb: number;
  dLdu: Float64Array;
  psi: Float64Array;
}

export interface AdapterKl {
  kl: number;
  dKdu: Float64Array;
  psi: Float64Array;
}

function checkInt(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new RangeError(`velocity adapter: ${name} must be an integer ≥ ${min}, got ${value}`);
}

export class VelocityAdapter {
  readonly D: number;
  readonly wordBuckets: number;
  readonly sigmaDegree: number;
  readonly categories: readonly string[];
  /** Text feature dimension 1 + #categories + wordBuckets. */
  readonly textDim: number;
  /** σ basis size degree + 1. */
  readonly basisDim: number;
  /** ψ dimension m = textDim·basisDim. */
  readonly m: number;
  /** A, row-major D×m. Live: Adam updates it in place. */
  readonly params: Float64Array;

  private constructor(
    D: number,
    wordBuckets: number,
    sigmaDegree: number,
    categories: readonly string[],
    params: Float64Array | null,
  ) {
    checkInt('D', D, 1);
    checkInt('wordBuckets', wordBuckets, 0);
    checkInt('sigmaDegree', sigmaDegree, 0);
    if (categories.some((c) => typeof c !== 'string') || new Set(categories).size !== categories.length)
      throw new Error('velocity adapter: categories must be distinct strings');
    this.D = D;
    this.wordBuckets = wordBuckets;
    this.sigmaDegree = sigmaDegree;
    this.categories = Object.freeze([...categories]);
    this.textDim = 1 + categories.length + wordBuckets;
    this.basisDim = sigmaDegree + 1;
    this.m = this.textDim * this.basisDim;
    if (params !== null && params.length !== D * this.m)
      throw new Error(`velocity adapter: expected ${D * this.m} weights, got ${params.length}`);
    this.params = params ?? new Float64Array(D * this.m);
  }

  /** A = 0: the adapter starts as the identity (u = 0, KL = 0). */
  static create(opts: VelocityAdapterOptions = {}): VelocityAdapter {
    return new VelocityAdapter(
      opts.D ?? MINI_IMAGE_ELEMENTS,
      opts.wordBuckets ?? 8,
      opts.sigmaDegree ?? 2,
      opts.categories ?? PROMPT_CATEGORIES,
      null,
    );
  }

  /** Number of parameters D·m. */
  get size(): number {
    return this.params.length;
  }

  /** t(c) = [1 | category one-hot | signed hashed words]. */
  textFeatures(prompt: string, category?: string | null): Float64Array {
    const nc = this.categories.length;
    const t = new Float64Array(this.textDim);
    t[0] = 1;
    const ci = categoryIndex(category, this.categories);
    if (ci >= 0) t[1 + ci] = 1;
    const words = Tokenizer.words(prompt);
    if (this.wordBuckets > 0 && words.length > 0) {
      const w = 1 / Math.sqrt(words.length);
      for (const word of words) {
        const h = fnv1a32(word);
        const b = 1 + nc + (h % this.wordBuckets);
        t[b] = (t[b] ?? 0) + ((h >>> 16) & 1 ? -w : w);
      }
    }
    return t;
  }

  /** b(σ) = [1, σ, …, σ^degree]. */
  sigmaFeatures(sigma: number): Float64Array {
    if (!(sigma >= 0 && sigma <= 1)) throw new RangeError(`velocity adapter: σ must be in [0, 1], got ${sigma}`);
    const b = new Float64Array(this.basisDim);
    let p = 1;
    for (let k = 0; k < this.basisDim; k++) {
      b[k] = p;
      p *= sigma;
    }
    return b;
  }

  /** ψ(c, σ) = t(c) ⊗ b(σ). */
  features(prompt: string, category: string | null | undefined, sigma: number): Float64Array {
    const t = this.textFeatures(prompt, category);
    const b = this.sigmaFeatures(sigma);
    const psi = new Float64Array(this.m);
    for (let i = 0; i < this.textDim; i++) {
      for (let k = 0; k < this.basisDim; k++) psi[i * this.basisDim + k] = (t[i] ?? 0) * (b[k] ?? 0);
    }
    return psi;
  }

  /** u = A ψ in float64. */
  velocity(psi: ArrayLike<number>): Float64Array {
    if (psi.length !== this.m) throw new Error(`velocity adapter: expected ψ of ${this.m} values, got ${psi.length}`);
    const m = this.m;
    const A = this.params;
    const u = new Float64Array(this.D);
    for (let j = 0; j < this.D; j++) {
      let acc = 0;
      const row = j * m;
      for (let r = 0; r < m; r++) acc += (A[row + r] ?? 0) * (psi[r] ?? 0);
      u[j] = acc;
    }
    return u;
  }

  /** The velocity offset u_θ(c, σ) for the sampler, as float32. */
  offset(prompt: string, category: string | null | undefined, sigma: number): Float32Array {
    return Float32Array.from(this.velocity(this.features(prompt, category, sigma)));
  }

  /** A `velocityOffset` hook for `sampleFlow` over `prompts` (the rewritten prompts, in batch order). */
  offsetHook(prompts: readonly SamplePrompt[]): (index: number, sigma: number) => Float32Array {
    return (index, sigma) => {
      const p = prompts[index];
      if (p === undefined) throw new RangeError(`velocity adapter: no prompt ${index}`);
      return this.offset(p.text, p.category, sigma);
    };
  }

  private checkTransition(t: AdapterTransition): void {
    const D = this.D;
    if (t.x.length !== D || t.xNext.length !== D || t.v.length !== D) {
      throw new Error(
        `velocity adapter: transition has ${t.x.length}/${t.xNext.length}/${t.v.length} elements, expected D = ${D}`,
      );
    }
  }

  /** ℓ_θ of a recorded transition under the current A, with ∂ℓ/∂u and ψ. */
  logProbAndGrad(t: AdapterTransition, noiseLevel: number, sigmaMax: number): AdapterLogProb {
    this.checkTransition(t);
    const c = sdeCoefficients(t.sigma, t.sigmaNext, noiseLevel, sigmaMax);
    const psi = this.features(t.prompt, t.category, t.sigma);
    const u = this.velocity(psi);
    const muBase = sdeMean(t.x, t.v, c);
    const D = this.D;
    const kappa = c.kv;
    const gscale = kappa / (c.tau * c.tau * D);
    const dLdu = new Float64Array(D);
    let sq = 0;
    for (let j = 0; j < D; j++) {
      const r = (t.xNext[j] ?? 0) - ((muBase[j] ?? 0) + kappa * (u[j] ?? 0));
      sq += r * r;
      dLdu[j] = r * gscale;
    }
    const logProb = -sq / (2 * c.tau * c.tau * D) - Math.log(c.tau) - LOG_SQRT_2PI;
    return { logProb, dLdu, psi };
  }

  /** ℓ_θ of a recorded transition: μ_θ = μ_base + κ·u_θ, no network call. */
  logProb(t: AdapterTransition, noiseLevel: number, sigmaMax: number): number {
    return this.logProbAndGrad(t, noiseLevel, sigmaMax).logProb;
  }

  /** ∂ℓ/∂A = (∂ℓ/∂u) ψᵀ, flat like `params`. */
  gradLogProb(t: AdapterTransition, noiseLevel: number, sigmaMax: number): Float64Array {
    const { dLdu, psi } = this.logProbAndGrad(t, noiseLevel, sigmaMax);
    const out = new Float64Array(this.size);
    this.addOuter(dLdu, psi, 1, out);
    return out;
  }

  /** The KL to the base model (unscaled; the loss adds β·KL), with ∂KL/∂u and ψ. */
  klAndGrad(step: AdapterStep, variant: AdapterKlVariant, noiseLevel: number, sigmaMax: number): AdapterKl {
    const psi = this.features(step.prompt, step.category, step.sigma);
    const u = this.velocity(psi);
    const D = this.D;
    const dKdu = new Float64Array(D);
    let sq = 0;
    for (let j = 0; j < D; j++) {
      const uj = u[j] ?? 0;
      sq += uj * uj;
    }
    if (variant === 'velocity-mse') {
      for (let j = 0; j < D; j++) dKdu[j] = (2 * (u[j] ?? 0)) / D;
      return { kl: sq / D, dKdu, psi };
    }
    if (variant === 'mean-kl') {
      const c = sdeCoefficients(step.sigma, step.sigmaNext, noiseLevel, sigmaMax);
      const k2 = c.kv * c.kv;
      const tau2 = c.tau * c.tau;
      const g = k2 / (tau2 * D);
      for (let j = 0; j < D; j++) dKdu[j] = g * (u[j] ?? 0);
      return { kl: (k2 * sq) / (2 * tau2 * D), dKdu, psi };
    }
    throw new Error(`velocity adapter: unknown KL variant ${JSON.stringify(variant)}`);
  }

  /** KL to the base model (unscaled). `noiseLevel`/`sigmaMax` only matter for 'mean-kl'. */
  kl(step: AdapterStep, variant: AdapterKlVariant, noiseLevel: number, sigmaMax: number): number {
    return this.klAndGrad(step, variant, noiseLevel, sigmaMax).kl;
  }

  /** ∂KL/∂A = (∂KL/∂u) ψᵀ, flat like `params`. */
  gradKl(step: AdapterStep, variant: AdapterKlVariant, noiseLevel: number, sigmaMax: number): Float64Array {
    const { dKdu, psi } = this.klAndGrad(step, variant, noiseLevel, sigmaMax);
    const out = new Float64Array(this.size);
    this.addOuter(dKdu, psi, 1, out);
    return out;
  }

  /** out += scale·g ψᵀ (g ∈ R^D, ψ ∈ R^m), the chain rule through u = Aψ. */
  addOuter(g: ArrayLike<number>, psi: ArrayLike<number>, scale: number, out: Float64Array): void {
    if (g.length !== this.D || psi.length !== this.m || out.length !== this.size) {
      throw new Error(
        `velocity adapter: addOuter expects ${this.D}, ${this.m} and ${this.size} values, got ${g.length}, ${psi.length} and ${out.length}`,
      );
    }
    const m = this.m;
    for (let j = 0; j < this.D; j++) {
      const gj = scale * (g[j] ?? 0);
      if (gj === 0) continue;
      const row = j * m;
      for (let r = 0; r < m; r++) out[row + r] = (out[row + r] ?? 0) + gj * (psi[r] ?? 0);
    }
  }

  serialize(): VelocityAdapterJson {
    return {
      version: 1,
      kind: 'velocity-adapter',
      D: this.D,
      wordBuckets: this.wordBuckets,
      sigmaDegree: this.sigmaDegree,
      categories: [...this.categories],
      A: encodeFloat64(this.params),
    };
  }

  toJSON(): VelocityAdapterJson {
    return this.serialize();
  }

  static deserialize(json: VelocityAdapterJson): VelocityAdapter {
    if (json === null || typeof json !== 'object' || json.kind !== 'velocity-adapter' || json.version !== 1) {
      throw new Error('not a serialised velocity adapter (kind "velocity-adapter", version 1)');
    }
    if (!Array.isArray(json.categories)) throw new Error('velocity adapter: bad categories');
    checkInt('D', json.D, 1);
    checkInt('wordBuckets', json.wordBuckets, 0);
    checkInt('sigmaDegree', json.sigmaDegree, 0);
    const m = (1 + json.categories.length + json.wordBuckets) * (json.sigmaDegree + 1);
    return new VelocityAdapter(
      json.D,
      json.wordBuckets,
      json.sigmaDegree,
      json.categories,
      decodeFloat64(json.A, json.D * m, 'velocity adapter A'),
    );
  }
}
