/**
 * Wilson score interval for a binomial proportion, used for arena win rates against the real photos.
 *
 * Wilson (not the Wald "p ± z·se") because win rates near 0 or 1 are common on small suites and the Wald interval
 * collapses to zero width there. A tie counts as half a success, so `successes` may be fractional; the interval is
 * then an approximation (ties shrink the true variance), which errs on the wide side.
 */

/** Default two-sided confidence level. */
export const DEFAULT_CONFIDENCE = 0.95;

// Acklam's rational approximations (relative error about 1.15e-9 over the whole open interval).
const A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239,
] as const;
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1] as const;
const C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783,
] as const;
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416] as const;
const P_LOW = 0.02425;

/**
 * Inverse of the standard normal CDF (the probit), by Acklam's algorithm.
 * `p` must lie strictly between 0 and 1; the result is accurate to about 1e-9 relative.
 */
export function inverseNormalCdf(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`inverseNormalCdf: expected p in (0, 1), got ${p}`);
  if (p < P_LOW) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1)
    );
  }
  if (p > 1 - P_LOW) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return (
      -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
    (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1)
  );
}

/** The two-sided critical value z for a confidence level in (0, 1): 0.95 → 1.959964. */
export function zForConfidence(confidence: number = DEFAULT_CONFIDENCE): number {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence: expected a number in (0, 1), got ${confidence}`);
  return inverseNormalCdf(1 - (1 - confidence) / 2);
}

/** A Wilson interval with the inputs it was computed from. All proportions are in [0, 1]. */
export interface WilsonInterval {
  /** successes / n, the point estimate. */
  estimate: number;
  /** Lower bound; exactly 0 when successes = 0. */
  lower: number;
  /** Upper bound; exactly 1 when successes = n. */
  upper: number;
  /** Centre of the interval (the estimate shrunk towards 1/2). */
  center: number;
  successes: number;
  n: number;
  confidence: number;
}

/**
 * Wilson score interval for `successes` out of `n` trials at `confidence` (default 0.95).
 *
 * `n` is a non-negative integer; `successes` is any number in [0, n] (a tie is 0.5). Returns null when n = 0,
 * because no trials carry no information and a [0, 1] interval would read as a result.
 */
export function wilsonInterval(successes: number, n: number, confidence: number = DEFAULT_CONFIDENCE): WilsonInterval | null {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`wilsonInterval: expected n to be a non-negative integer, got ${n}`);
  if (!Number.isFinite(successes) || successes < 0 || successes > n) {
    throw new RangeError(`wilsonInterval: expected successes in [0, n = ${n}], got ${successes}`);
  }
  const z = zForConfidence(confidence);
  if (n === 0) return null;
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // The closed-form bounds are exactly 0 and 1 at the extremes; pin them so rounding cannot leave 1e-17 there.
  const lower = successes === 0 ? 0 : Math.max(0, center - half);
  const upper = successes === n ? 1 : Math.min(1, center + half);
  return { estimate: p, lower, upper, center, successes, n, confidence };
}
