/**
 * The statistics of one evaluation from its shard outputs: Detector-Scoring per detector and category (bootstrap
 * CIs), the arena summary overall and per category (Wilson CI), the headline numbers and the raw pair outcomes the
 * leaderboard's Bradley–Terry fit needs. Pure.
 */
import type { Headline } from '../../contracts/evaluation';
import { summarizeVerdicts, type ArenaOutcome, type ArenaSummary, type PairVerdict } from '../arena/verdict';
import { scoreDetectors, type DetectorReport, type DetectorScoreItem } from '../realbench/detector-scoring';
import type { PairOutcome } from './report-model';

/** A judged pair as judgements.json stores it: a verdict, or the error that kept it from being judged. */
export type JudgedPair = { id: string; category: string } & ({ verdict: PairVerdict } | { error: string });

export interface EvaluationSummaryInput {
  /** Detector scores of every generated image. */
  scored: readonly DetectorScoreItem[];
  judged: readonly JudgedPair[];
  /** The suite's categories, sorted. */
  categories: readonly string[];
  /** Evaluation detectors in config order (the headline lists them in this order). */
  detectorNames: readonly string[];
  /** Seed of the bootstrap intervals. */
  seed: number;
  /** Number of generated images. */
  images: number;
}

export interface EvaluationSummary {
  detectorScoring: Record<string, DetectorReport>;
  overall: ArenaSummary;
  byCategory: Record<string, ArenaSummary>;
  headline: Headline;
  /** Pairs the judge could not judge at all (excluded from the rates). */
  judgeErrors: number;
  outcomes: PairOutcome[];
}

export function summarizeEvaluation(input: EvaluationSummaryInput): EvaluationSummary {
  const { categories } = input;
  const detectorScoring = scoreDetectors(input.scored, { seed: input.seed, categories: [...categories] });
  const verdicts = input.judged.flatMap((j) => ('verdict' in j ? [{ ...j.verdict, category: j.category }] : []));
  const overall = summarizeVerdicts(verdicts);
  const byCategory = Object.fromEntries(categories.map((c) => [c, summarizeVerdicts(verdicts.filter((v) => v.category === c))]));
  const headline: Headline = {
    detectorScoring: Object.fromEntries(input.detectorNames.map((n) => [n, detectorScoring[n]?.overall.score ?? null])),
    arenaWinRate: overall.winRate,
    arenaCi: overall.interval ? [overall.interval.lower, overall.interval.upper] : null,
    positionConsistency: overall.positionConsistency,
    images: input.images,
  };
  const outcomes = input.judged.flatMap((j) =>
    'verdict' in j ? [{ id: j.id, outcome: j.verdict.outcome as ArenaOutcome }] : [],
  );
  return { detectorScoring, overall, byCategory, headline, judgeErrors: input.judged.length - verdicts.length, outcomes };
}
