/**
 * The mini arena's calibrated local judge (issue 15). The plain local judge prefers whichever image has the higher
 * held-out P(real); with a detector of ROC-AUC ≈ 0.99 every generated image loses to its real photo and the arena
 * cannot move. This judge instead prefers image A with probability
 *   P(A) = sigmoid((z_A − z_B) / T),  z = logit of the held-out detector's P(real),
 * a Bradley–Terry judge whose temperature T is calibrated once (so the base generator is neither 0% nor above 40%
 * against real photos), with seeded uniform draws per (pair, order, draw): the same pair always gets the same verdicts.
 * Each pair is asked in both orders; a split verdict counts half. Real against itself is 50% in expectation.
 */
import { Rng } from '../../lib/random';

const logit = (p: number) => {
  const q = Math.min(1 - 1e-6, Math.max(1e-6, p));
  return Math.log(q / (1 - q));
};
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** P(judge prefers A) for one order. */
export function preferProbability(pRealA: number, pRealB: number, temperature: number): number {
  if (!(temperature > 0)) throw new RangeError(`calibrated judge: temperature must be > 0, got ${temperature}`);
  return sigmoid((logit(pRealA) - logit(pRealB)) / temperature);
}

/** A's score for one pair judged in both orders: 1, 0.5 (split) or 0; seeded by the pair id. */
export function judgePair(pairId: string, pRealA: number, pRealB: number, temperature: number, seed = 0): number {
  const ab = Rng.fromSeed(seed, 'calibrated-judge', pairId, 'ab').uniform() < preferProbability(pRealA, pRealB, temperature);
  const ba = Rng.fromSeed(seed, 'calibrated-judge', pairId, 'ba').uniform() < preferProbability(pRealB, pRealA, temperature);
  return ((ab ? 1 : 0) + (ba ? 0 : 1)) / 2;
}

/**
 * A's mean score over `draws` seeded verdicts of one pair (each asked in both orders, seeds 0 … draws−1). One draw
 * per pair carries Bernoulli noise of ~2 win-rate points over 210 pairs, as large as the effects the mini arena is
 * there to show; averaging several draws keeps the judge stochastic per verdict while the arena's rate tracks the
 * expected preference. Real against itself stays 50% in expectation, and the calibration (on expectations) is
 * unchanged.
 */
export function judgePairDraws(pairId: string, pRealA: number, pRealB: number, temperature: number, draws: number): number {
  if (!Number.isInteger(draws) || draws < 1) throw new RangeError(`calibrated judge: draws must be an integer ≥ 1, got ${draws}`);
  let s = 0;
  for (let d = 0; d < draws; d++) s += judgePair(pairId, pRealA, pRealB, temperature, d);
  return s / draws;
}

/** Expected win rate of the A images over their B partners (no draws). */
export function expectedWinRate(pairs: ReadonlyArray<{ a: number; b: number }>, temperature: number): number {
  return pairs.reduce((s, p) => s + preferProbability(p.a, p.b, temperature), 0) / pairs.length;
}

/**
 * The temperature at which the expected win rate of `pairs` (e.g. base generator vs real photo) equals `target`
 * (bisection on log T; the win rate rises towards 0.5 as T grows). Throws when the pairs already win more often.
 */
export function calibrateTemperature(pairs: ReadonlyArray<{ a: number; b: number }>, target: number): number {
  if (pairs.length === 0) throw new Error('calibrated judge: no calibration pairs');
  if (!(target > 0 && target < 0.5)) throw new RangeError(`calibrated judge: target must be in (0, 0.5), got ${target}`);
  let lo = Math.log(1e-3);
  let hi = Math.log(1e3);
  if (expectedWinRate(pairs, Math.exp(lo)) > target)
    throw new Error(`calibrated judge: the calibration pairs already win more than ${target}`);
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (expectedWinRate(pairs, Math.exp(mid)) < target) lo = mid;
    else hi = mid;
  }
  return Math.exp((lo + hi) / 2);
}
