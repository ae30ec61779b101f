/** Assembly of report.json and the leaderboard entry from an evaluation's parts. Pure. */
import type { EvalSpec, EvaluationPlan } from '../../contracts/evaluation';
import type { EvaluationSummary } from './evaluation-summary';
import {
  LEADERBOARD_ENTRY_SCHEMA,
  REPORT_SCHEMA,
  type EvaluationReport,
  type HistoryPoint,
  type LeaderboardEntry,
  type ReportChart,
  type ReportSource,
} from './report-model';

/** What was evaluated, without secrets or local paths. */
export function reportSource(spec: EvalSpec): ReportSource {
  const s = spec.source;
  if (s.kind === 'mini-checkpoint') {
    return {
      kind: 'mini-checkpoint',
      checkpoint:
        s.ref === null
          ? null
          : {
              runId: s.ref.runId,
              stage: s.ref.stage,
              step: s.ref.step,
              prefix: s.ref.prefix,
              manifestSha256: s.ref.manifestSha256,
            },
    };
  }
  if (s.kind === 'images') return { kind: 'images', s3Prefix: s.s3Prefix };
  return { kind: 'command', command: [s.command, ...s.args].join(' ') };
}

export interface ReportParts {
  spec: EvalSpec;
  plan: Pick<EvaluationPlan, 'realbenchDigest' | 'evalDigest'>;
  summary: EvaluationSummary;
  /** `local:<detector>` or `openai:<model>`. */
  judge: string;
  /** Requests and tokens the model judge spent, when it was one. */
  cost?: EvaluationReport['arena']['cost'];
  charts: ReportChart[];
  grid: EvaluationReport['grid'];
  history: HistoryPoint[];
  keys: EvaluationReport['keys'];
  createdAt: string;
  /** GPU slot-seconds the evaluation's GPU steps held. */
  gpuSeconds?: number;
}

export function assembleReport(p: ReportParts): EvaluationReport {
  const { spec, summary } = p;
  return {
    schema: REPORT_SCHEMA,
    evalKey: spec.evalKey,
    name: spec.name,
    suite: spec.suite,
    source: reportSource(spec),
    createdAt: p.createdAt,
    images: summary.headline.images,
    realbenchDigest: p.plan.realbenchDigest,
    configDigest: spec.configDigest,
    evalDigest: p.plan.evalDigest,
    detectors: spec.config.evaluation.detectors.map((d) => ({ name: d.name, heldout: d.heldout })),
    detectorScoring: summary.detectorScoring,
    arena: {
      judge: p.judge,
      overall: summary.overall,
      byCategory: summary.byCategory,
      errors: summary.judgeErrors,
      ...(p.cost ? { cost: p.cost } : {}),
    },
    headline: summary.headline,
    charts: p.charts,
    grid: p.grid,
    history: p.history,
    keys: p.keys,
    ...(p.gpuSeconds !== undefined
      ? {
          gpu: {
            seconds: p.gpuSeconds,
            ...(spec.config.costPerGpuHour !== undefined ? { costPerGpuHour: spec.config.costPerGpuHour } : {}),
          },
        }
      : {}),
  };
}

/**
 * The leaderboard row of a report, with the raw pair outcomes Bradley–Terry needs. `plannedImages` is the suite's size:
 * planned images that were not generated and scored count as failed, and such a row never ranks above a complete one.
 */
export function leaderboardEntryOf(
  report: EvaluationReport,
  summary: EvaluationSummary,
  plannedImages: number,
): LeaderboardEntry {
  return {
    schema: LEADERBOARD_ENTRY_SCHEMA,
    evalKey: report.evalKey,
    name: report.name,
    suite: report.suite,
    source: report.source,
    createdAt: report.createdAt,
    detectorScoring: report.headline.detectorScoring,
    arenaWinRate: report.headline.arenaWinRate,
    arenaCi: report.headline.arenaCi,
    positionConsistency: report.headline.positionConsistency,
    outcomes: summary.outcomes,
    failedImages: Math.max(0, plannedImages - report.headline.images),
  };
}
