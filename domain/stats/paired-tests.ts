/**
 * Paired statistics for the ablation (issue 15): per-prompt differences (checkpoint − base, same prompt and noise
 * seeds), a percentile bootstrap CI of their mean over prompts, a one-sided sign-flip permutation p-value for
 * "mean > 0", and Holm's step-down correction across stages. Seeded, so a report is reproducible.
 */
import { Rng } from '../../lib/random';

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** 95% (or `level`) percentile bootstrap CI of the mean, resampling the units (prompts) with replacement. */
export function bootstrapMeanCi(
  diffs: readonly number[],
  options: { resamples?: number; level?: number; seed?: number } = {},
): { low: number; high: number } {
  if (diffs.length === 0) throw new Error('bootstrap: no differences');
  const B = options.resamples ?? 10_000;
  const level = options.level ?? 0.95;
  const rng = Rng.fromSeed(options.seed ?? 0, 'bootstrap');
  const n = diffs.length;
  const means = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += diffs[rng.int(n)] as number;
    means[b] = s / n;
  }
  means.sort();
  const lo = Math.floor(((1 - level) / 2) * B);
  const hi = Math.min(B - 1, Math.ceil((1 - (1 - level) / 2) * B) - 1);
  return { low: means[lo] as number, high: means[hi] as number };
}

/** One-sided sign-flip permutation p for mean(diffs) > 0: (1 + #{flipped mean ≥ observed}) / (1 + resamples). */
export function signFlipP(diffs: readonly number[], options: { resamples?: number; seed?: number } = {}): number {
  if (diffs.length === 0) throw new Error('sign-flip test: no differences');
  const B = options.resamples ?? 10_000;
  const rng = Rng.fromSeed(options.seed ?? 0, 'sign-flip');
  const observed = mean(diffs);
  let hits = 0;
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (const d of diffs) s += rng.uniform() < 0.5 ? -d : d;
    if (s / diffs.length >= observed - 1e-12) hits++;
  }
  return (1 + hits) / (1 + B);
}

/** Holm-adjusted p-values (same order as the input): p_(k) · (m − k + 1), made monotone, capped at 1. */
export function holm(ps: readonly number[]): number[] {
  const m = ps.length;
  const order = ps.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const out = new Array<number>(m).fill(1);
  let running = 0;
  order.forEach(({ p, i }, k) => {
    running = Math.max(running, Math.min(1, p * (m - k)));
    out[i] = running;
  });
  return out;
}
