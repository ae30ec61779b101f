/**
 * The PPO/GRPO clipped surrogate for one sample (and, in stage 2, one SDE step), shared/docs/mini-grpo-math.md §2:
 *   ρ = exp(ℓ_θ − ℓ_old)
 *   L = max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε))
 *   ∂L/∂θ = c·∂ℓ_θ/∂θ with c = −A·ρ when the unclipped branch is the max, i.e. not (A > 0 and ρ > 1+ε) and
 *           not (A < 0 and ρ < 1−ε); otherwise c = 0.
 * The policy loss is the mean over samples (and steps): a trainer scales each c by 1/N.
 * Diagnostics follow the official flow_grpo code: clipfrac counts |ρ − 1| > ε, approx KL = 0.5·(ℓ_θ − ℓ_old)²
 * (averaged by the caller).
 */

export interface SurrogateTerm {
  /** L = max(−Aρ, −A·clip(ρ, 1−ε, 1+ε)). */
  loss: number;
  /** c with ∂L/∂θ = c·∂ℓ_θ/∂θ. */
  coef: number;
  /** ρ = exp(ℓ_θ − ℓ_old). */
  ratio: number;
  /** ℓ_θ − ℓ_old. */
  logRatio: number;
  /** |ρ − 1| > ε: the official clipfrac indicator. */
  clipped: boolean;
  /** Whether the unclipped branch is active (gradient flows); false exactly when coef is 0 by clipping. */
  active: boolean;
  /** 0.5·(ℓ_θ − ℓ_old)². */
  approxKl: number;
}

/** One surrogate term. `clipRange` is ε (≥ 0). */
export function clippedSurrogate(logProb: number, oldLogProb: number, advantage: number, clipRange: number): SurrogateTerm {
  if (!Number.isFinite(logProb) || !Number.isFinite(oldLogProb))
    throw new RangeError(`surrogate: non-finite log-probabilities (${logProb}, ${oldLogProb})`);
  if (!Number.isFinite(advantage)) throw new RangeError(`surrogate: non-finite advantage ${advantage}`);
  if (!(Number.isFinite(clipRange) && clipRange >= 0))
    throw new RangeError(`surrogate: clip range must be finite and ≥ 0, got ${clipRange}`);
  const logRatio = logProb - oldLogProb;
  const ratio = Math.exp(logRatio);
  const lo = 1 - clipRange;
  const hi = 1 + clipRange;
  const clippedRatio = ratio < lo ? lo : ratio > hi ? hi : ratio;
  const unclippedLoss = -advantage * ratio;
  const clippedLoss = -advantage * clippedRatio;
  const loss = Math.max(unclippedLoss, clippedLoss) + 0;
  const active = !((advantage > 0 && ratio > hi) || (advantage < 0 && ratio < lo));
  // `+ 0` turns −0 into 0 so that A = 0 gives a plain zero coefficient.
  const coef = active ? -(advantage * ratio) + 0 : 0;
  return { loss, coef, ratio, logRatio, clipped: Math.abs(ratio - 1) > clipRange, active, approxKl: 0.5 * logRatio * logRatio };
}

/** Means over terms, as the official code logs them. */
export interface SurrogateStats {
  count: number;
  /** mean L (the policy loss). */
  loss: number;
  /** fraction with |ρ − 1| > ε. */
  clipfrac: number;
  /** mean 0.5·(ℓ_θ − ℓ_old)². */
  approxKl: number;
  /** fraction whose gradient was cut by clipping. */
  inactiveFrac: number;
}

/** Aggregates terms (in order). An empty list gives zeros. */
export function surrogateStats(terms: readonly SurrogateTerm[]): SurrogateStats {
  const n = terms.length;
  if (n === 0) return { count: 0, loss: 0, clipfrac: 0, approxKl: 0, inactiveFrac: 0 };
  let loss = 0;
  let clipped = 0;
  let kl = 0;
  let inactive = 0;
  for (const t of terms) {
    loss += t.loss;
    kl += t.approxKl;
    if (t.clipped) clipped++;
    if (!t.active) inactive++;
  }
  return { count: n, loss: loss / n, clipfrac: clipped / n, approxKl: kl / n, inactiveFrac: inactive / n };
}
