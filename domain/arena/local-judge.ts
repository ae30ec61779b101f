/**
 * The offline arena judge: a held-out detector's P(real) decides which image of a pair is the more realistic one.
 *
 * It follows the same protocol as the LLM judge (./openai-judge) so the two are interchangeable in reports: each
 * pair is scored in both orders, [generated, real] and then [real, generated], and the two preferences are combined
 * by ./verdict. A detector that scores images independently gives the same preference in both orders; one whose
 * scores depend on the batch position (batch statistics, padding) shows up as inconsistent ties instead of biasing
 * the win rate. Scores within `tolerance` of each other are an exact tie ('equal'), which is consistent when both
 * orders agree.
 */
import { Rng } from '../../lib/random';
import { preferProbability } from './calibrated-judge';
import { combinePreferences, type PairVerdict, type Preference } from './verdict';

/** P(real) in [0, 1] for each encoded image, in input order (the held-out detector). */
export type RealnessScorer = (images: Buffer[]) => Promise<number[]>;

/** One pair to judge: encoded image bytes. */
export interface LocalArenaPair {
  generated: Buffer;
  real: Buffer;
}

/** Local judge settings. */
export interface LocalJudgeOptions {
  /** Score gap at or below which the two images tie. @default 1e-9 */
  tolerance?: number;
  /**
   * The calibrated judge (./calibrated-judge): each order prefers the first image with probability
   * sigmoid((logit P_first − logit P_second) / temperature), one draw seeded by (seed, pairId, order), so the same
   * pair always gets the same verdict. Absent: the higher P(real) wins, deterministically.
   */
  calibrated?: { temperature: number; pairId: string; seed?: number };
}

/** The P(real) scores the detector gave in one order. */
export interface OrderScores {
  generated: number;
  real: number;
}

/** A locally judged pair: the verdict plus the scores of both orders. `unparseable` is always false here. */
export interface LocalJudgedPair extends PairVerdict {
  scores: { generatedFirst: OrderScores; realFirst: OrderScores };
}

/** The result for one pair, or why it could not be judged (the scorer threw or returned a malformed result). */
export type LocalPairResult = LocalJudgedPair | { error: string };

/** Default tie tolerance on P(real). */
export const DEFAULT_TIE_TOLERANCE = 1e-9;

/** The calibrated judge's preference in one order (`first` is the image shown first). */
function drawnPreference(
  scores: OrderScores,
  first: 'generated' | 'real',
  c: NonNullable<LocalJudgeOptions['calibrated']>,
): Preference {
  const second = first === 'generated' ? 'real' : 'generated';
  const pFirst = preferProbability(scores[first], scores[second], c.temperature);
  const order = first === 'generated' ? 'ab' : 'ba';
  return Rng.fromSeed(c.seed ?? 0, 'calibrated-judge', c.pairId, order).uniform() < pFirst ? first : second;
}

function preference(scores: OrderScores, tolerance: number): Preference {
  const gap = scores.generated - scores.real;
  if (gap > tolerance) return 'generated';
  if (gap < -tolerance) return 'real';
  return 'equal';
}

async function scoreTwo(scorer: RealnessScorer, first: Buffer, second: Buffer, what: string): Promise<[number, number]> {
  const out = await scorer([first, second]);
  if (!Array.isArray(out) || out.length !== 2) {
    throw new Error(`${what}: expected the scorer to return 2 scores, got ${Array.isArray(out) ? out.length : typeof out}`);
  }
  const [a, b] = out as [unknown, unknown];
  for (const v of [a, b]) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      throw new Error(`${what}: expected P(real) scores in [0, 1], got ${String(v)}`);
    }
  }
  return [a as number, b as number];
}

/** Judges one pair in both orders. The scorer is called twice, [generated, real] then [real, generated]. */
export async function judgePairLocally(
  pair: LocalArenaPair,
  scorer: RealnessScorer,
  options: LocalJudgeOptions = {},
): Promise<LocalPairResult> {
  const tolerance = options.tolerance ?? DEFAULT_TIE_TOLERANCE;
  if (!(tolerance >= 0) || !Number.isFinite(tolerance))
    throw new RangeError(`local judge tolerance: expected a finite number >= 0, got ${tolerance}`);
  try {
    // Sequential on purpose: the scorer is usually one accelerator session, and the two calls are tiny batches.
    const [g1, r1] = await scoreTwo(scorer, pair.generated, pair.real, 'generated-first order');
    const [r2, g2] = await scoreTwo(scorer, pair.real, pair.generated, 'real-first order');
    const generatedFirst = { generated: g1, real: r1 };
    const realFirst = { generated: g2, real: r2 };
    const c = options.calibrated;
    const prefs =
      c === undefined
        ? [preference(generatedFirst, tolerance), preference(realFirst, tolerance)]
        : [drawnPreference(generatedFirst, 'generated', c), drawnPreference(realFirst, 'real', c)];
    return {
      ...combinePreferences(prefs[0] as Preference, prefs[1] as Preference),
      scores: { generatedFirst, realFirst },
    };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** Judges pairs one after another (the scorer sets the pace); results in input order. */
export async function judgePairsLocally(
  pairs: readonly LocalArenaPair[],
  scorer: RealnessScorer,
  options: LocalJudgeOptions = {},
): Promise<LocalPairResult[]> {
  const results: LocalPairResult[] = [];
  for (const pair of pairs) results.push(await judgePairLocally(pair, scorer, options));
  return results;
}
