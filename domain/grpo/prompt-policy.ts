/**
 * Stage 1: the prompt optimizer as a log-linear policy (shared/docs/mini-grpo-math.md §3).
 *
 * Features φ(x) ∈ R^d of a short prompt x and its category:
 *   [ category one-hot (7, zeros when no category) | hashed words (B buckets) | bias 1 ],  d = 7 + B + 1
 * Hashed words: each lowercase `[a-z0-9]+` word w adds 1/sqrt(#words) to bucket FNV-1a(w) mod B.
 * Slots s (camera, lens, …) with K_s options ("none" first); W_s ∈ R^{K_s×d}, z_s = W_s φ, p_s = softmax(z_s).
 *   ℓ(a|x)       = Σ_s log p_s[a_s]
 *   ∂ℓ/∂W_s      = (e_{a_s} − p_s) φᵀ
 *   KL_s         = Σ_k p_k (log p_k − log q_k)             (q: the initial W, or uniform)
 *   ∂KL_s/∂z_s,j = p_j ((log p_j − log q_j) − KL_s),  ∂KL_s/∂W_s = (∂KL_s/∂z_s) φᵀ
 * All parameters live in one flat Float64Array (slot blocks in slot order, each row-major K_s×d) that Adam updates
 * in place; serialisation stores it as base64 of little-endian float64 bytes, so a restore is bit-exact.
 */
import { REALBENCH_CATEGORIES } from '../../contracts/realbench';
import type { Rng } from '../../lib/random';
import { Tokenizer } from '../mini/tokenizer';
import { decodeFloat64, encodeFloat64 } from './adam';

/** The seven RealBench categories, in the tokenizer's order (the upstream prompt file's, as contracts/realbench.ts). */
export const PROMPT_CATEGORIES: readonly string[] = REALBENCH_CATEGORIES;

/** Default number of hashed word buckets. */
export const DEFAULT_WORD_BUCKETS = 64;

/** 32-bit FNV-1a of a string's UTF-8 bytes. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Index of `category` in `categories`, −1 for none; an unknown category is an error. */
export function categoryIndex(category: string | null | undefined, categories: readonly string[] = PROMPT_CATEGORIES): number {
  if (category === null || category === undefined) return -1;
  const i = categories.indexOf(category);
  if (i < 0) throw new Error(`unknown category ${JSON.stringify(category)}; expected one of ${categories.join(', ')}`);
  return i;
}

export interface FeatureOptions {
  /** @default 64 */
  buckets?: number;
  /** @default PROMPT_CATEGORIES */
  categories?: readonly string[];
}

/** Feature dimension d = #categories + buckets + 1. */
export function promptFeatureDim(opts: FeatureOptions = {}): number {
  return (opts.categories ?? PROMPT_CATEGORIES).length + (opts.buckets ?? DEFAULT_WORD_BUCKETS) + 1;
}

/** φ(x): [category one-hot | hashed words (value 1/sqrt(#words) per occurrence) | bias 1]. */
export function promptFeatures(prompt: string, category: string | null | undefined, opts: FeatureOptions = {}): Float64Array {
  const categories = opts.categories ?? PROMPT_CATEGORIES;
  const buckets = opts.buckets ?? DEFAULT_WORD_BUCKETS;
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be a positive integer, got ${buckets}`);
  const nc = categories.length;
  const phi = new Float64Array(nc + buckets + 1);
  const ci = categoryIndex(category, categories);
  if (ci >= 0) phi[ci] = 1;
  const words = Tokenizer.words(prompt);
  if (words.length > 0) {
    const w = 1 / Math.sqrt(words.length);
    for (const word of words) {
      const b = nc + (fnv1a32(word) % buckets);
      phi[b] = (phi[b] ?? 0) + w;
    }
  }
  phi[nc + buckets] = 1;
  return phi;
}

/** The descriptor file (models/realgen-mini/descriptors.json): slot name → options, "none" first. */
export interface Descriptors {
  slots: Record<string, readonly string[]>;
}

export interface PromptSlot {
  name: string;
  options: readonly string[];
}

/** A per-slot gradient matrix, row-major rows × cols (K_s × d). */
export interface SlotMatrix {
  slot: string;
  rows: number;
  cols: number;
  data: Float64Array;
}

/** KL reference: the weights at creation ("initial") or the uniform distribution over each slot's options. */
export type PolicyReference = 'initial' | 'uniform';

export interface PromptPolicyOptions extends FeatureOptions {
  /** 'zeros' (uniform policy) or 'uniform': weights drawn from U(−scale, scale) with `rng`. @default 'zeros' */
  init?: 'zeros' | 'uniform';
  /** Required for init 'uniform'. */
  rng?: Rng;
  /** Half-width of the uniform init. @default 0.01 */
  scale?: number;
}

export interface PromptPolicyJson {
  version: 1;
  kind: 'prompt-policy';
  buckets: number;
  categories: string[];
  slots: Array<{ name: string; options: string[] }>;
  /** base64 of little-endian float64 bytes. */
  weights: string;
  /** The weights at creation (KL reference 'initial'). */
  reference: string;
}

function logSoftmax(z: Float64Array): Float64Array {
  let max = -Infinity;
  for (const x of z) if (x > max) max = x;
  let sum = 0;
  for (const x of z) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(z.length);
  for (let k = 0; k < z.length; k++) out[k] = (z[k] ?? 0) - lse;
  return out;
}

function validateSlots(slots: ReadonlyArray<{ name: string; options: readonly string[] }>): PromptSlot[] {
  if (slots.length === 0) throw new Error('prompt policy: no slots');
  const names = new Set<string>();
  return slots.map(({ name, options }) => {
    if (names.has(name)) throw new Error(`prompt policy: duplicate slot ${JSON.stringify(name)}`);
    names.add(name);
    if (!Array.isArray(options) || options.length === 0 || options.some((o) => typeof o !== 'string')) {
      throw new Error(`prompt policy: slot ${JSON.stringify(name)} needs a non-empty list of string options`);
    }
    if (new Set(options).size !== options.length)
      throw new Error(`prompt policy: slot ${JSON.stringify(name)} has duplicate options`);
    return { name, options: Object.freeze([...options]) };
  });
}

export class PromptPolicy {
  readonly slots: readonly PromptSlot[];
  readonly buckets: number;
  readonly categories: readonly string[];
  /** Feature dimension d. */
  readonly dim: number;
  /** All weights, flat (slot blocks in order, each row-major K_s×d). Live: Adam updates it in place. */
  readonly params: Float64Array;
  private readonly reference: Float64Array;
  private readonly offsets: number[];

  private constructor(
    slots: PromptSlot[],
    buckets: number,
    categories: readonly string[],
    params: Float64Array,
    reference: Float64Array,
  ) {
    this.slots = Object.freeze(slots);
    this.buckets = buckets;
    this.categories = Object.freeze([...categories]);
    this.dim = promptFeatureDim({ buckets, categories });
    this.offsets = [];
    let off = 0;
    for (const s of slots) {
      this.offsets.push(off);
      off += s.options.length * this.dim;
    }
    if (params.length !== off || reference.length !== off)
      throw new Error(`prompt policy: expected ${off} weights, got ${params.length} (reference ${reference.length})`);
    this.params = params;
    this.reference = reference;
  }

  /** A policy over the descriptor slots (in the file's order). */
  static create(descriptors: Descriptors, opts: PromptPolicyOptions = {}): PromptPolicy {
    if (
      descriptors === null ||
      typeof descriptors !== 'object' ||
      descriptors.slots === null ||
      typeof descriptors.slots !== 'object'
    ) {
      throw new Error('prompt policy: descriptors need a "slots" object');
    }
    const slots = validateSlots(Object.entries(descriptors.slots).map(([name, options]) => ({ name, options })));
    const buckets = opts.buckets ?? DEFAULT_WORD_BUCKETS;
    const categories = opts.categories ?? PROMPT_CATEGORIES;
    const d = promptFeatureDim({ buckets, categories });
    const n = slots.reduce((acc, s) => acc + s.options.length * d, 0);
    const params = new Float64Array(n);
    const init = opts.init ?? 'zeros';
    if (init === 'uniform') {
      if (opts.rng === undefined) throw new Error("prompt policy: init 'uniform' needs an rng");
      const scale = opts.scale ?? 0.01;
      if (!(Number.isFinite(scale) && scale >= 0))
        throw new RangeError(`prompt policy: scale must be finite and ≥ 0, got ${scale}`);
      for (let i = 0; i < n; i++) params[i] = (2 * opts.rng.uniform() - 1) * scale;
    } else if (init !== 'zeros') {
      throw new Error(`prompt policy: unknown init ${JSON.stringify(init)}`);
    }
    return new PromptPolicy(slots, buckets, categories, params, Float64Array.from(params));
  }

  /** Number of parameters. */
  get size(): number {
    return this.params.length;
  }

  /** φ(x) with this policy's feature settings. */
  features(prompt: string, category?: string | null): Float64Array {
    return promptFeatures(prompt, category, { buckets: this.buckets, categories: this.categories });
  }

  /** W_s as a live row-major view (K_s×d). */
  slotWeights(slot: number): Float64Array {
    const s = this.slot(slot);
    const off = this.offsets[slot] ?? 0;
    return this.params.subarray(off, off + s.options.length * this.dim);
  }

  private slot(i: number): PromptSlot {
    const s = this.slots[i];
    if (s === undefined) throw new RangeError(`prompt policy: no slot ${i}`);
    return s;
  }

  private checkFeatures(phi: ArrayLike<number>): void {
    if (phi.length !== this.dim) throw new Error(`prompt policy: expected ${this.dim} features, got ${phi.length}`);
  }

  private checkAction(action: readonly number[]): void {
    if (action.length !== this.slots.length)
      throw new Error(`prompt policy: expected ${this.slots.length} slot choices, got ${action.length}`);
    action.forEach((a, s) => {
      const k = this.slot(s).options.length;
      if (!Number.isInteger(a) || a < 0 || a >= k)
        throw new RangeError(`prompt policy: choice ${a} for slot ${this.slot(s).name} is outside [0, ${k})`);
    });
  }

  /** z_s = W_s φ computed from `weights` (this policy's layout). */
  private logits(weights: Float64Array, phi: ArrayLike<number>, slot: number): Float64Array {
    const k = this.slot(slot).options.length;
    const d = this.dim;
    const off = this.offsets[slot] ?? 0;
    const z = new Float64Array(k);
    for (let r = 0; r < k; r++) {
      let acc = 0;
      const row = off + r * d;
      for (let c = 0; c < d; c++) acc += (weights[row + c] ?? 0) * (phi[c] ?? 0);
      z[r] = acc;
    }
    return z;
  }

  /** log p_s for every slot. */
  logProbsPerSlot(features: ArrayLike<number>): Float64Array[] {
    this.checkFeatures(features);
    return this.slots.map((_, s) => logSoftmax(this.logits(this.params, features, s)));
  }

  /** p_s for every slot (each sums to 1). */
  probs(features: ArrayLike<number>): Float64Array[] {
    return this.logProbsPerSlot(features).map((lp) => lp.map(Math.exp));
  }

  /** Draws one option per slot, in slot order, with `rng.categorical`. */
  sample(features: ArrayLike<number>, rng: Rng): number[] {
    return this.probs(features).map((p) => rng.categorical(p));
  }

  /** ℓ(a|x) = Σ_s log p_s[a_s]. */
  logProb(features: ArrayLike<number>, action: readonly number[]): number {
    this.checkAction(action);
    let l = 0;
    this.logProbsPerSlot(features).forEach((lp, s) => {
      l += lp[action[s] ?? 0] ?? 0;
    });
    return l;
  }

  private referenceLogProbs(features: ArrayLike<number>, reference: PolicyReference): Float64Array[] {
    if (reference === 'uniform')
      return this.slots.map((s) => new Float64Array(s.options.length).fill(-Math.log(s.options.length)));
    if (reference === 'initial') return this.slots.map((_, s) => logSoftmax(this.logits(this.reference, features, s)));
    throw new Error(`prompt policy: unknown reference ${JSON.stringify(reference)}`);
  }

  /** KL_s = Σ_k p_k (log p_k − log q_k) for every slot. */
  klPerSlot(features: ArrayLike<number>, reference: PolicyReference): number[] {
    const lp = this.logProbsPerSlot(features);
    const lq = this.referenceLogProbs(features, reference);
    return lp.map((l, s) => {
      const q = lq[s] ?? new Float64Array(0);
      let kl = 0;
      for (let k = 0; k < l.length; k++) {
        const lk = l[k] ?? 0;
        kl += Math.exp(lk) * (lk - (q[k] ?? 0));
      }
      return kl;
    });
  }

  /** Σ_s KL_s (the loss adds β times this). */
  kl(features: ArrayLike<number>, reference: PolicyReference): number {
    return this.klPerSlot(features, reference).reduce((a, b) => a + b, 0);
  }

  /** Adds scale·∂ℓ/∂W (= scale·(e_a − p)φᵀ per slot) into the flat `out`. */
  addGradLogProb(features: ArrayLike<number>, action: readonly number[], scale: number, out: Float64Array): void {
    this.checkAction(action);
    this.checkOut(out);
    this.probs(features).forEach((p, s) => {
      const g = new Float64Array(p.length);
      for (let k = 0; k < p.length; k++) g[k] = (k === action[s] ? 1 : 0) - (p[k] ?? 0);
      this.addOuter(s, g, features, scale, out);
    });
  }

  /** ∂ℓ/∂W_s = (e_{a_s} − p_s) φᵀ, one matrix per slot. */
  gradLogProb(features: ArrayLike<number>, action: readonly number[]): SlotMatrix[] {
    const flat = new Float64Array(this.size);
    this.addGradLogProb(features, action, 1, flat);
    return this.split(flat);
  }

  /** Adds scale·∂(Σ_s KL_s)/∂W into the flat `out`. */
  addGradKl(features: ArrayLike<number>, reference: PolicyReference, scale: number, out: Float64Array): void {
    this.checkOut(out);
    const lp = this.logProbsPerSlot(features);
    const lq = this.referenceLogProbs(features, reference);
    lp.forEach((l, s) => {
      const q = lq[s] ?? new Float64Array(0);
      let kl = 0;
      for (let k = 0; k < l.length; k++) {
        const lk = l[k] ?? 0;
        kl += Math.exp(lk) * (lk - (q[k] ?? 0));
      }
      const g = new Float64Array(l.length);
      for (let k = 0; k < l.length; k++) {
        const lk = l[k] ?? 0;
        g[k] = Math.exp(lk) * (lk - (q[k] ?? 0) - kl);
      }
      this.addOuter(s, g, features, scale, out);
    });
  }

  /** ∂KL_s/∂W_s = p ⊙ ((log p − log q) − KL_s) φᵀ, one matrix per slot. */
  gradKl(features: ArrayLike<number>, reference: PolicyReference): SlotMatrix[] {
    const flat = new Float64Array(this.size);
    this.addGradKl(features, reference, 1, flat);
    return this.split(flat);
  }

  /** Splits a flat parameter-shaped vector into per-slot matrices (copies). */
  split(flat: Float64Array): SlotMatrix[] {
    this.checkOut(flat);
    return this.slots.map((s, i) => {
      const off = this.offsets[i] ?? 0;
      return { slot: s.name, rows: s.options.length, cols: this.dim, data: flat.slice(off, off + s.options.length * this.dim) };
    });
  }

  private checkOut(out: Float64Array): void {
    if (out.length !== this.size) throw new Error(`prompt policy: expected a vector of ${this.size} values, got ${out.length}`);
  }

  private addOuter(slot: number, g: Float64Array, phi: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.checkFeatures(phi);
    const d = this.dim;
    const off = this.offsets[slot] ?? 0;
    for (let r = 0; r < g.length; r++) {
      const gr = scale * (g[r] ?? 0);
      if (gr === 0) continue;
      const row = off + r * d;
      for (let c = 0; c < d; c++) out[row + c] = (out[row + c] ?? 0) + gr * (phi[c] ?? 0);
    }
  }

  /** The chosen phrases (slot order, "none" skipped). */
  phrases(action: readonly number[]): string[] {
    this.checkAction(action);
    const out: string[] = [];
    action.forEach((a, s) => {
      const phrase = this.slot(s).options[a];
      if (phrase !== undefined && phrase !== 'none') out.push(phrase);
    });
    return out;
  }

  /**
   * The rewritten prompt: the prompt (trailing whitespace and , ; : . removed) followed by the chosen phrases,
   * joined with ", ". With every slot at "none" the prompt is returned unchanged.
   */
  rewrite(prompt: string, action: readonly number[]): string {
    const phrases = this.phrases(action);
    if (phrases.length === 0) return prompt;
    const base = prompt.replace(/[\s,;:.]+$/u, '');
    return (base.length > 0 ? [base, ...phrases] : phrases).join(', ');
  }

  serialize(): PromptPolicyJson {
    return {
      version: 1,
      kind: 'prompt-policy',
      buckets: this.buckets,
      categories: [...this.categories],
      slots: this.slots.map((s) => ({ name: s.name, options: [...s.options] })),
      weights: encodeFloat64(this.params),
      reference: encodeFloat64(this.reference),
    };
  }

  toJSON(): PromptPolicyJson {
    return this.serialize();
  }

  static deserialize(json: PromptPolicyJson): PromptPolicy {
    if (json === null || typeof json !== 'object' || json.kind !== 'prompt-policy' || json.version !== 1)
      throw new Error('not a serialised prompt policy (kind "prompt-policy", version 1)');
    if (!Number.isInteger(json.buckets) || json.buckets < 1)
      throw new Error(`prompt policy: bad bucket count ${String(json.buckets)}`);
    if (!Array.isArray(json.categories) || json.categories.some((c) => typeof c !== 'string'))
      throw new Error('prompt policy: bad categories');
    if (!Array.isArray(json.slots)) throw new Error('prompt policy: bad slots');
    const slots = validateSlots(json.slots);
    const d = promptFeatureDim({ buckets: json.buckets, categories: json.categories });
    const n = slots.reduce((acc, s) => acc + s.options.length * d, 0);
    return new PromptPolicy(
      slots,
      json.buckets,
      json.categories,
      decodeFloat64(json.weights, n, 'prompt policy weights'),
      decodeFloat64(json.reference, n, 'prompt policy reference'),
    );
  }
}
