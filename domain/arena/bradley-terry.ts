/**
 * Bradley–Terry ratings from pairwise arena outcomes, fitted by the MM algorithm (Hunter 2004, "MM algorithms for
 * generalized Bradley–Terry models", §3), with percentile-bootstrap intervals.
 *
 * Model: P(i beats j) = p_i / (p_i + p_j). A tie counts as half a win for each side (the usual convention when the
 * judge's tie is "could not tell"; it keeps the MM update unchanged).
 *
 * Prior: every player gets one virtual tie against a pseudo-player "anchor" whose strength is fixed at 1. Without it a
 * player that never lost has an infinite maximum-likelihood strength (and a disconnected comparison graph has no
 * unique fit); with it every strength is finite, the scale is fixed, and the pull towards 1 is worth a single game,
 * which is negligible against the hundreds of comparisons a RealBench suite yields.
 *
 * Ratings are on an Elo-like scale, rating = 400·log10(p) + offset, so a 400-point gap means 10:1 odds. The offset puts
 * the reference player (default "real", the real photos) at exactly 1000 when it took part, otherwise the mean of all
 * players at 1000. Intervals are percentile-bootstrap: resample the comparisons with replacement, refit, and read the
 * quantiles of each player's anchored rating; all draws come from a seeded `Rng`, so a seed fixes the output.
 */
import { Rng } from '../../lib/random';

/** One judged comparison between players `a` and `b`. */
export interface PairwiseComparison {
  a: string;
  b: string;
  winner: 'a' | 'b' | 'tie';
}

/** Fitting options; every field has a default. */
export interface BradleyTerryOptions {
  /** Player pinned at rating 1000 when present. @default "real" */
  reference?: string;
  /** Bootstrap resamples; 0 disables intervals (lower = upper = rating). @default 200 */
  bootstrap?: number;
  /** Seed of the bootstrap resampling. @default 0 */
  seed?: number;
  /** Two-sided interval level. @default 0.95 */
  confidence?: number;
  /** Virtual ties of every player against the strength-1 anchor. @default 1 */
  priorTies?: number;
  /** MM iteration cap per fit. @default 10000 */
  maxIterations?: number;
  /** Stop when no log-strength moves by more than this between iterations. @default 1e-10 */
  tolerance?: number;
}

/** The rating of one player. */
export interface PlayerRating {
  player: string;
  /** Elo-like rating (see the module comment). */
  rating: number;
  /** Bootstrap interval bounds on the same scale; equal to `rating` when bootstrap = 0. */
  lower: number;
  upper: number;
  /** Fitted strength p (anchor = 1, before the rating offset). */
  strength: number;
  games: number;
  wins: number;
  losses: number;
  ties: number;
}

/** The fit of a comparison set. */
export interface BradleyTerryFit {
  /** One entry per player, best first (ties in rating broken by name). */
  ratings: PlayerRating[];
  /** The player pinned at 1000, or null when the mean is pinned instead. */
  reference: string | null;
  bootstrap: number;
  seed: number;
  confidence: number;
  /** MM iterations of the point fit, and whether it met the tolerance before the cap. */
  iterations: number;
  converged: boolean;
}

/** Rating-scale constants: 400 points per factor of 10 in strength, centred on 1000. */
export const RATING_SCALE = 400;
export const RATING_CENTER = 1000;

/** Compact pair counts: the sufficient statistics of a comparison set for the MM update. */
interface Tally {
  /** wins[i] = wins of player i, ties counting 0.5. */
  wins: Float64Array;
  /** games[i * n + j] = comparisons between i and j (symmetric). */
  games: Float64Array;
}

interface StrengthFit {
  strengths: Float64Array;
  iterations: number;
  converged: boolean;
}

function validate(comparisons: readonly PairwiseComparison[]): void {
  comparisons.forEach((c, i) => {
    if (typeof c !== 'object' || c === null) throw new TypeError(`comparisons[${i}]: expected an object { a, b, winner }`);
    if (typeof c.a !== 'string' || c.a.length === 0) throw new TypeError(`comparisons[${i}].a: expected a non-empty string`);
    if (typeof c.b !== 'string' || c.b.length === 0) throw new TypeError(`comparisons[${i}].b: expected a non-empty string`);
    if (c.a === c.b) throw new RangeError(`comparisons[${i}]: expected two different players, got "${c.a}" twice`);
    if (c.winner !== 'a' && c.winner !== 'b' && c.winner !== 'tie') {
      throw new RangeError(`comparisons[${i}].winner: expected "a", "b" or "tie", got ${JSON.stringify(c.winner)}`);
    }
  });
}

/** Encodes comparisons as (i, j, score of i) triples over player indices, for cheap resampling. */
function encode(
  comparisons: readonly PairwiseComparison[],
  index: Map<string, number>,
): { i: Int32Array; j: Int32Array; s: Float64Array } {
  const m = comparisons.length;
  const out = { i: new Int32Array(m), j: new Int32Array(m), s: new Float64Array(m) };
  comparisons.forEach((c, k) => {
    out.i[k] = index.get(c.a) ?? -1;
    out.j[k] = index.get(c.b) ?? -1;
    out.s[k] = c.winner === 'a' ? 1 : c.winner === 'b' ? 0 : 0.5;
  });
  return out;
}

function emptyTally(n: number): Tally {
  return { wins: new Float64Array(n), games: new Float64Array(n * n) };
}

function addGame(t: Tally, n: number, i: number, j: number, scoreI: number): void {
  t.wins[i] = (t.wins[i] ?? 0) + scoreI;
  t.wins[j] = (t.wins[j] ?? 0) + (1 - scoreI);
  t.games[i * n + j] = (t.games[i * n + j] ?? 0) + 1;
  t.games[j * n + i] = (t.games[j * n + i] ?? 0) + 1;
}

/**
 * MM iterations p_i ← W_i / Σ_j n_ij / (p_i + p_j), with the anchor as an extra opponent of fixed strength 1 met
 * `prior` times (W_i includes prior/2 from those ties). Because the anchor is fixed, no renormalisation is needed.
 *
 * Each sweep is followed by an exact step along the common scale (all p_i times c). Real games do not depend on the
 * scale, only the few virtual anchor games do, so plain MM crawls along that direction for thousands of sweeps; the
 * scale step maximises the likelihood along it (another ascent step, so convergence is kept) and cuts the sweeps to
 * tens.
 */
function fitStrengths(t: Tally, n: number, prior: number, maxIterations: number, tolerance: number): StrengthFit {
  const p = new Float64Array(n).fill(1);
  const next = new Float64Array(n);
  for (let iter = 1; iter <= maxIterations; iter++) {
    let maxMove = 0;
    for (let i = 0; i < n; i++) {
      const pi = p[i] ?? 1;
      let denom = prior / (pi + 1);
      for (let j = 0; j < n; j++) {
        const nij = t.games[i * n + j] ?? 0;
        if (nij > 0) denom += nij / (pi + (p[j] ?? 1));
      }
      // prior > 0 keeps both the numerator and the denominator positive, so every strength stays finite and > 0.
      next[i] = ((t.wins[i] ?? 0) + prior / 2) / denom;
    }
    const logScale = bestLogScale(next);
    for (let i = 0; i < n; i++) {
      const value = (next[i] ?? 1) * Math.exp(logScale);
      maxMove = Math.max(maxMove, Math.abs(Math.log(value) - Math.log(p[i] ?? 1)));
      p[i] = value;
    }
    if (maxMove <= tolerance) return { strengths: p, iterations: iter, converged: true };
  }
  return { strengths: p, iterations: maxIterations, converged: false };
}

/**
 * The u = log c maximising the anchor terms Σ_i [½·log(c·p_i) − log(c·p_i + 1)] (the prior weight is a common
 * factor), i.e. the root of g(u) = Σ_i c·p_i / (c·p_i + 1) − n/2. g is increasing and concave-then-convex, so
 * Newton from u = 0 is safeguarded by bisection on a bracket.
 */
function bestLogScale(p: Float64Array): number {
  const n = p.length;
  if (n === 0) return 0;
  const g = (u: number): [number, number] => {
    let value = -n / 2;
    let slope = 0;
    for (const pi of p) {
      const s = 1 / (1 + Math.exp(-(Math.log(pi) + u)));
      value += s;
      slope += s * (1 - s);
    }
    return [value, slope];
  };
  let lo = -1;
  let hi = 1;
  while (g(lo)[0] > 0) lo *= 2;
  while (g(hi)[0] < 0) hi *= 2;
  let u = 0;
  for (let k = 0; k < 100; k++) {
    const [value, slope] = g(u);
    if (Math.abs(value) < 1e-13 * n) break;
    if (value > 0) hi = u;
    else lo = u;
    let step = slope > 0 ? u - value / slope : Number.NaN;
    if (!(step > lo && step < hi)) step = (lo + hi) / 2;
    u = step;
  }
  return u;
}

/** Ratings from strengths, offset so the reference sits at 1000 (or the mean does when there is none). */
function toRatings(strengths: Float64Array, referenceIndex: number): Float64Array {
  const r = new Float64Array(strengths.length);
  for (let i = 0; i < strengths.length; i++) r[i] = RATING_SCALE * Math.log10(strengths[i] ?? 1);
  let offset: number;
  if (referenceIndex >= 0) {
    offset = RATING_CENTER - (r[referenceIndex] ?? 0);
  } else {
    let sum = 0;
    for (const v of r) sum += v;
    offset = RATING_CENTER - sum / Math.max(1, r.length);
  }
  for (let i = 0; i < r.length; i++) r[i] = (r[i] ?? 0) + offset;
  // x + (1000 − x) can round to 1000.0000000000001; the reference is 1000 by definition.
  if (referenceIndex >= 0) r[referenceIndex] = RATING_CENTER;
  return r;
}

/** Linear-interpolated quantile (type 7) of an ascending-sorted array. */
function quantileSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (h - lo) * (b - a);
}

function positiveInt(value: number, what: string, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${what}: expected an integer >= ${min}, got ${value}`);
  return value;
}

/**
 * Fits Bradley–Terry ratings with bootstrap intervals. Players are those named in `comparisons`; an empty list gives
 * an empty fit. Throws a RangeError/TypeError naming the offending comparison or option.
 */
export function fitBradleyTerry(comparisons: readonly PairwiseComparison[], options: BradleyTerryOptions = {}): BradleyTerryFit {
  const reference = options.reference ?? 'real';
  const bootstrap = positiveInt(options.bootstrap ?? 200, 'bootstrap', 0);
  const seed = options.seed ?? 0;
  const confidence = options.confidence ?? 0.95;
  const prior = options.priorTies ?? 1;
  const maxIterations = positiveInt(options.maxIterations ?? 10000, 'maxIterations', 1);
  const tolerance = options.tolerance ?? 1e-10;
  if (!Number.isInteger(seed)) throw new RangeError(`seed: expected an integer, got ${seed}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence: expected a number in (0, 1), got ${confidence}`);
  if (!(prior > 0) || !Number.isFinite(prior)) throw new RangeError(`priorTies: expected a positive number, got ${prior}`);
  if (!(tolerance > 0)) throw new RangeError(`tolerance: expected a positive number, got ${tolerance}`);
  validate(comparisons);

  const players = [...new Set(comparisons.flatMap((c) => [c.a, c.b]))].sort();
  const n = players.length;
  const index = new Map(players.map((p, i) => [p, i]));
  const referenceIndex = index.get(reference) ?? -1;
  const enc = encode(comparisons, index);
  const m = comparisons.length;

  const tally = emptyTally(n);
  for (let k = 0; k < m; k++) addGame(tally, n, enc.i[k] ?? 0, enc.j[k] ?? 0, enc.s[k] ?? 0);
  const point = fitStrengths(tally, n, prior, maxIterations, tolerance);
  const ratings = toRatings(point.strengths, referenceIndex);

  // Bootstrap: samples[i * B + b] is player i's rating in resample b.
  const samples = new Float64Array(n * bootstrap);
  if (bootstrap > 0 && m > 0) {
    const rng = Rng.fromSeed(seed, 'bradley-terry-bootstrap');
    for (let b = 0; b < bootstrap; b++) {
      const t = emptyTally(n);
      for (let k = 0; k < m; k++) {
        const pick = rng.int(m);
        addGame(t, n, enc.i[pick] ?? 0, enc.j[pick] ?? 0, enc.s[pick] ?? 0);
      }
      const r = toRatings(fitStrengths(t, n, prior, maxIterations, tolerance).strengths, referenceIndex);
      for (let i = 0; i < n; i++) samples[i * bootstrap + b] = r[i] ?? Number.NaN;
    }
  }

  const alpha = 1 - confidence;
  const results: PlayerRating[] = players.map((player, i) => {
    let games = 0;
    let wins = 0;
    let losses = 0;
    let ties = 0;
    for (const c of comparisons) {
      if (c.a !== player && c.b !== player) continue;
      games++;
      if (c.winner === 'tie') ties++;
      else if ((c.winner === 'a') === (c.a === player)) wins++;
      else losses++;
    }
    const rating = ratings[i] ?? Number.NaN;
    let lower = rating;
    let upper = rating;
    if (bootstrap > 0 && m > 0) {
      const sorted = samples.slice(i * bootstrap, (i + 1) * bootstrap).sort();
      lower = quantileSorted(sorted, alpha / 2);
      upper = quantileSorted(sorted, 1 - alpha / 2);
    }
    return { player, rating, lower, upper, strength: point.strengths[i] ?? Number.NaN, games, wins, losses, ties };
  });
  results.sort((x, y) => y.rating - x.rating || (x.player < y.player ? -1 : x.player > y.player ? 1 : 0));

  return {
    ratings: results,
    reference: referenceIndex >= 0 ? reference : null,
    bootstrap,
    seed,
    confidence,
    iterations: point.iterations,
    converged: point.converged,
  };
}
