/**
 * The paired comparison of two models on the same prompts and seeds: per prompt, the difference of their scores
 * (B − A). A bootstrap over prompts gives the 95% CI of the mean difference (percentile method), and a sign-flip
 * permutation test gives the two-sided p-value of "no difference" (under the null each pair's difference is as
 * likely negative as positive). Pure and seeded: the same inputs give the same numbers.
 */
import { Rng } from '../../lib/random';

export interface PairedTestOptions {
  /** Bootstrap resamples. @default 2000 */
  bootstrap?: number;
  /** Sign-flip permutations; exact enumeration when 2^n is not larger. @default 10000 */
  permutations?: number;
  /** @default 0 */
  seed?: number;
}

export interface PairedTestResult {
  /** Pairs used. */
  n: number;
  /** Mean of B − A. */
  meanDiff: number;
  /** 95% bootstrap CI of the mean difference. */
  ci: [number, number];
  /** Two-sided sign-flip p-value. */
  p: number;
  /** Whether p came from every sign assignment (exact) or from random ones. */
  exact: boolean;
  /** Pairs where B beat A, lost, tied. */
  wins: number;
  losses: number;
  ties: number;
}

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i] ?? 0;
  return s / xs.length;
}

function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] ?? 0) + ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) * (pos - lo);
}

/** Paired test on differences `diffs[i] = b[i] − a[i]` (one per prompt). */
export function pairedTest(diffs: readonly number[], options: PairedTestOptions = {}): PairedTestResult {
  const n = diffs.length;
  if (n === 0) throw new Error('paired test: no pairs (the two evaluations share no prompt and seed)');
  if (diffs.some((d) => !Number.isFinite(d))) throw new Error('paired test: a difference is not a finite number');
  const observed = mean(diffs);
  const rng = Rng.fromSeed(options.seed ?? 0, 'paired-test');
  const B = options.bootstrap ?? 2000;
  const means: number[] = [];
  const sample = new Float64Array(n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) sample[i] = diffs[rng.int(n)] ?? 0;
    means.push(mean(sample));
  }
  means.sort((x, y) => x - y);
  const ci: [number, number] = B === 0 ? [observed, observed] : [quantile(means, 0.025), quantile(means, 0.975)];
  // |mean| of a sign assignment at least as extreme as the observed one; a tolerance absorbs float summation order.
  const target = Math.abs(observed) - 1e-12 * Math.max(1, Math.abs(observed));
  const limit = options.permutations ?? 10_000;
  const exact = n <= 30 && 2 ** n <= limit;
  let extreme = 0;
  let total = 0;
  if (exact) {
    for (let mask = 0; mask < 2 ** n; mask++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += (mask & (1 << i) ? -1 : 1) * (diffs[i] ?? 0);
      if (Math.abs(s / n) >= target) extreme++;
      total++;
    }
  } else {
    for (let k = 0; k < limit; k++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += (rng.uniform() < 0.5 ? -1 : 1) * (diffs[i] ?? 0);
      if (Math.abs(s / n) >= target) extreme++;
      total++;
    }
    // The observed assignment counts as one of the permutations, so p is never 0.
    extreme++;
    total++;
  }
  return {
    n,
    meanDiff: observed,
    ci,
    p: extreme / total,
    exact,
    wins: diffs.filter((d) => d > 0).length,
    losses: diffs.filter((d) => d < 0).length,
    ties: diffs.filter((d) => d === 0).length,
  };
}

/** Pairs two per-item score maps on their shared keys (same prompt and seed); keys in sorted order. */
export function pairByKey(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): { keys: string[]; diffs: number[] } {
  const keys = [...a.keys()].filter((k) => b.has(k)).sort();
  return { keys, diffs: keys.map((k) => (b.get(k) ?? 0) - (a.get(k) ?? 0)) };
}
