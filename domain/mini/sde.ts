/**
 * The Flow-GRPO SDE step and its Gaussian log-probability (shared/docs/mini-grpo-math.md §4), rectified-flow
 * convention: x_σ = (1−σ)·x0 + σ·ε, σ from 1 (noise) to 0 (image), the network predicts v = ε − x0.
 *
 * One step from σ to σ' (dt = σ' − σ < 0) with noise level a:
 *   s_t = a·sqrt(σ / (1 − σ̃)), σ̃ = σ_max (the schedule's second value) when σ = 1, else σ
 *   μ   = x·(1 + s_t²·dt / (2σ)) + v·(1 + s_t²·(1−σ) / (2σ))·dt
 *   x'  = μ + τ·ξ,  τ = s_t·sqrt(−dt)
 *   ℓ   = mean over the D elements of [ −(x'−μ)² / (2τ²) − log τ − log sqrt(2π) ]   (official: mean, not sum)
 */

/** Coefficients of one SDE step: μ = kx·x + kv·v, standard deviation τ. */
export interface SdeCoefficients {
  dt: number;
  st: number;
  kx: number;
  kv: number;
  tau: number;
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** Coefficients for the step σ → σ'. `sigmaMax` is the schedule's second value (used when σ = 1). */
export function sdeCoefficients(sigma: number, sigmaNext: number, noiseLevel: number, sigmaMax: number): SdeCoefficients {
  const dt = sigmaNext - sigma;
  if (!(dt < 0)) throw new RangeError(`SDE step needs σ' < σ, got σ=${sigma}, σ'=${sigmaNext}`);
  if (!(sigma > 0)) throw new RangeError(`SDE step needs σ > 0, got ${sigma}`);
  const denom = 1 - (sigma === 1 ? sigmaMax : sigma);
  const st = noiseLevel * Math.sqrt(sigma / denom);
  return {
    dt,
    st,
    kx: 1 + (st * st * dt) / (2 * sigma),
    kv: (1 + (st * st * (1 - sigma)) / (2 * sigma)) * dt,
    tau: st * Math.sqrt(-dt),
  };
}

/** μ = kx·x + kv·v, written into `out`. */
export function sdeMean(x: Float32Array, v: Float32Array, c: SdeCoefficients, out = new Float32Array(x.length)): Float32Array {
  for (let i = 0; i < x.length; i++) out[i] = c.kx * (x[i] ?? 0) + c.kv * (v[i] ?? 0);
  return out;
}

/** ℓ = mean_j [ −(x'_j − μ_j)² / (2τ²) − log τ − log sqrt(2π) ]. */
export function gaussianLogProbMean(xNext: Float32Array, mean: Float32Array, tau: number): number {
  let sq = 0;
  for (let i = 0; i < xNext.length; i++) {
    const d = (xNext[i] ?? 0) - (mean[i] ?? 0);
    sq += d * d;
  }
  return -sq / (2 * tau * tau * xNext.length) - Math.log(tau) - LOG_SQRT_2PI;
}

/** Log-probability of a recorded transition (x → x' with base velocity v plus an optional offset u). */
export function transitionLogProb(
  t: { x: Float32Array; xNext: Float32Array; v: Float32Array; sigma: number; sigmaNext: number },
  noiseLevel: number,
  sigmaMax: number,
  offset?: Float32Array,
): number {
  const c = sdeCoefficients(t.sigma, t.sigmaNext, noiseLevel, sigmaMax);
  let v = t.v;
  if (offset !== undefined) {
    v = new Float32Array(t.v.length);
    for (let i = 0; i < v.length; i++) v[i] = (t.v[i] ?? 0) + (offset[i] ?? 0);
  }
  return gaussianLogProbMean(t.xNext, sdeMean(t.x, v, c), c.tau);
}

/** σ schedule: `steps + 1` values from 1 to 0, time-shifted by `shift` (1 = linear), as in SD3/FLUX. */
export function sigmaSchedule(steps: number, shift = 1): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps: expected an integer ≥ 1, got ${steps}`);
  return Array.from({ length: steps + 1 }, (_, i) => {
    const t = 1 - i / steps;
    return (shift * t) / (1 + (shift - 1) * t);
  });
}
