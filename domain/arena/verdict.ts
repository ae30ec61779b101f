/**
 * Turning the judge's two answers for one image pair into one arena outcome for the generated image.
 *
 * Every pair is judged twice: once with the generated image first ("Image 1") and once with the real photo first.
 * The two answers combine as follows:
 * - win: both orders pick the generated image;
 * - loss: both orders pick the real photo;
 * - tie (scored 0.5): the answers disagree about the images, i.e. each order picked "Image 1", or each picked
 *   "Image 2". The judge followed the position, not the content, so the pair counts as an inconsistency.
 *
 * Unparseable-answer policy (the original code counted such answers as "Unknown" and left them out of the rate):
 * 1. an answer that `parseJudgeAnswer` rejects is asked again, same order, same images, up to `maxParseRetries`
 *    more times (default {@link DEFAULT_MAX_PARSE_RETRIES}); only the last answer is kept;
 * 2. if an order is still unparseable, the pair counts as a tie (0.5, so it is neither dropped nor a free point),
 *    with `unparseable: true`, and `summarizeVerdicts` reports the number of such pairs separately so a judge that
 *    stops following the format shows up as a number, not as a drift of the win rate towards 50%;
 * 3. unparseable pairs are left out of the position-consistency rate, which is consistent pairs / pairs with both
 *    answers parsed.
 */
import { z } from 'zod';
import { ANSWER_LINE_PREFIX } from './judge-prompt';
import { wilsonInterval, type WilsonInterval } from './wilson';

/** Re-asks of one order after an unparseable answer. */
export const DEFAULT_MAX_PARSE_RETRIES = 2;

/** Which attached image the judge picked: 1 = first, 2 = second. */
export type ImageChoice = 1 | 2;

/** A parsed judge answer. */
export interface JudgeAnswer {
  choice: ImageChoice;
  /** The one-line reason; empty when the judge gave none. */
  reason: string;
  /** Which of the two accepted formats the answer used. */
  format: 'json' | 'line';
}

/** The JSON answer format: exactly these two keys. */
export const JudgeAnswerJsonSchema = z.strictObject({
  more_realistic: z.union([z.literal(1), z.literal(2)]),
  reason: z.string(),
});

// "More Realistic Image: Image 1", after markdown emphasis and list/quote/heading markers are stripped.
const ANSWER_LINE = /^more\s+realistic\s+image\s*:\s*image\s*([12])\s*\.?$/i;
const ANSWER_PREFIX = new RegExp(`^${ANSWER_LINE_PREFIX.replace(/\s+/g, '\\s+').replace(':', '\\s*:')}`, 'i');
const JSON_FENCE = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/i;

function stripMarkdown(line: string): string {
  return line
    .replace(/[*_`]/g, '')
    .replace(/^\s*(?:#+|>|[-+]\s)\s*/, '')
    .trim();
}

function parseJson(text: string): JudgeAnswer | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = JudgeAnswerJsonSchema.safeParse(value);
  if (!parsed.success) return null;
  return { choice: parsed.data.more_realistic, reason: parsed.data.reason.trim(), format: 'json' };
}

/**
 * Parses one judge answer, or returns null when it is unparseable. Accepted, and nothing else:
 * - a JSON object `{"more_realistic": 1 | 2, "reason": "..."}` with no other keys (optionally inside one ```json
 *   fence); numbers only, "1" as a string is rejected;
 * - the line format: a line `More Realistic Image: Image 1` (or `Image 2`), case-insensitive, markdown bold/italics
 *   tolerated, then the reason on the next non-empty line (a leading "Reason:" is dropped). Other lines before it
 *   are ignored, but a second answer line that disagrees, or any line starting "More Realistic Image:" that does not
 *   name exactly Image 1 or Image 2 ("Neither", "Image 1 and Image 2"), makes the answer unparseable.
 */
export function parseJudgeAnswer(text: string): JudgeAnswer | null {
  if (typeof text !== 'string') return null;
  const trimmed = text.trim();
  const fenced = JSON_FENCE.exec(trimmed);
  if (fenced) return parseJson((fenced[1] ?? '').trim());
  if (trimmed.startsWith('{')) return parseJson(trimmed);

  const rawLines = trimmed.split(/\r?\n/);
  const lines = rawLines.map(stripMarkdown);
  let choice: ImageChoice | null = null;
  let answerLine = -1;
  for (const [i, line] of lines.entries()) {
    if (!ANSWER_PREFIX.test(line)) continue;
    const m = ANSWER_LINE.exec(line);
    if (!m) return null;
    const c: ImageChoice = m[1] === '1' ? 1 : 2;
    if (choice !== null && c !== choice) return null;
    if (choice === null) answerLine = i;
    choice = c;
  }
  if (choice === null) return null;
  const reasonAt = lines.findIndex((l, i) => i > answerLine && l.length > 0 && !ANSWER_PREFIX.test(l));
  // The reason keeps its own underscores and asterisks; only surrounding markdown and a "Reason:" label go.
  const reason = (rawLines[reasonAt] ?? '').replace(/^[\s>#*_-]+|[\s*_]+$/g, '').replace(/^reason\s*:[\s*_]*/i, '');
  return { choice, reason: reasonAt < 0 ? '' : reason, format: 'line' };
}

/** A judge's preference in one order, in terms of the images rather than their positions. */
export type Preference = 'generated' | 'real' | 'equal';

/** Maps a positional choice to a preference, given where the generated image was placed. */
export function preferenceFromChoice(choice: ImageChoice, generatedPosition: ImageChoice): Preference {
  return choice === generatedPosition ? 'generated' : 'real';
}

/** The arena result of one pair, for the generated image. */
export type ArenaOutcome = 'win' | 'loss' | 'tie';

/** One pair's combined verdict. */
export interface PairVerdict {
  outcome: ArenaOutcome;
  /** 1 for a win, 0 for a loss, 0.5 for a tie. */
  score: 0 | 0.5 | 1;
  /** Both orders parsed and expressed the same preference. False when either order was unparseable. */
  consistent: boolean;
  /** At least one order stayed unparseable after its retries (the pair then counts as a tie). */
  unparseable: boolean;
}

/**
 * Combines the preferences from the generated-first and the real-first order (null = unparseable after retries).
 * Win only when both prefer the generated image, loss only when both prefer the real one, otherwise a tie.
 * 'equal' (a local judge's exact tie) agreeing in both orders is a consistent tie.
 */
export function combinePreferences(generatedFirst: Preference | null, realFirst: Preference | null): PairVerdict {
  if (generatedFirst === null || realFirst === null) return { outcome: 'tie', score: 0.5, consistent: false, unparseable: true };
  const consistent = generatedFirst === realFirst;
  if (consistent && generatedFirst === 'generated') return { outcome: 'win', score: 1, consistent, unparseable: false };
  if (consistent && generatedFirst === 'real') return { outcome: 'loss', score: 0, consistent, unparseable: false };
  return { outcome: 'tie', score: 0.5, consistent, unparseable: false };
}

/**
 * Combines the judge's positional choices: `generatedFirst` is its answer when the generated image was Image 1,
 * `realFirst` its answer when the real photo was Image 1; null = unparseable after retries.
 */
export function combineChoices(generatedFirst: ImageChoice | null, realFirst: ImageChoice | null): PairVerdict {
  return combinePreferences(
    generatedFirst === null ? null : preferenceFromChoice(generatedFirst, 1),
    realFirst === null ? null : preferenceFromChoice(realFirst, 2),
  );
}

/** Totals over a set of pairs. */
export interface ArenaSummary {
  pairs: number;
  wins: number;
  losses: number;
  /** All ties: position-inconsistent, unparseable and (local judge) equal pairs. */
  ties: number;
  /** Pairs with both answers parsed whose preferences disagree. */
  inconsistent: number;
  /** Pairs counted as ties because an order stayed unparseable. */
  unparseable: number;
  /** Pairs with both answers parsed. */
  parsedPairs: number;
  consistentPairs: number;
  /** consistentPairs / parsedPairs, in [0, 1]; null when no pair parsed. */
  positionConsistency: number | null;
  /** wins + 0.5 · ties. */
  score: number;
  /** score / pairs: the generated images' win rate against the real photos (0.5 = indistinguishable); null when empty. */
  winRate: number | null;
  /** Wilson interval of the win rate (ties as half successes); null when empty. */
  interval: WilsonInterval | null;
}

/** Sums pair verdicts into the arena numbers; `confidence` sets the win-rate interval (default 0.95). */
export function summarizeVerdicts(verdicts: readonly PairVerdict[], confidence = 0.95): ArenaSummary {
  let wins = 0;
  let losses = 0;
  let ties = 0;
  let inconsistent = 0;
  let unparseable = 0;
  let parsedPairs = 0;
  let consistentPairs = 0;
  for (const v of verdicts) {
    if (v.outcome === 'win') wins++;
    else if (v.outcome === 'loss') losses++;
    else ties++;
    if (v.unparseable) {
      unparseable++;
      continue;
    }
    parsedPairs++;
    if (v.consistent) consistentPairs++;
    else inconsistent++;
  }
  const pairs = verdicts.length;
  const score = wins + 0.5 * ties;
  return {
    pairs,
    wins,
    losses,
    ties,
    inconsistent,
    unparseable,
    parsedPairs,
    consistentPairs,
    positionConsistency: parsedPairs === 0 ? null : consistentPairs / parsedPairs,
    score,
    winRate: pairs === 0 ? null : score / pairs,
    interval: wilsonInterval(score, pairs, confidence),
  };
}
