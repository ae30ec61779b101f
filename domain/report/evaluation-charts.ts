/**
 * The charts of an evaluation report as data (rendered by infra/report/charts.ts): Detector-Scoring per category,
 * arena win rate per category, score per checkpoint step, and the stage's training reward curve. Pure.
 */
import type { ArenaSummary } from '../arena/verdict';
import type { DetectorReport } from '../realbench/detector-scoring';
import type { BarChartSpec, LineChartSpec } from './chart-specs';
import type { HistoryPoint, ReportChart } from './report-model';

/** A chart's report entry (without its object key) and the spec to render. */
export type EvaluationChart = Omit<ReportChart, 'key'> &
  ({ kind: 'bar'; spec: BarChartSpec } | { kind: 'line'; spec: LineChartSpec });

/** Shared axes of the 0–100 score charts, with 50 (indistinguishable from real) marked. */
const SCORE_AXES = { yMax: 100, yTicks: [0, 25, 50, 75, 100], refLine: 50 } as const;

export function detectorScoringChart(
  detectorNames: readonly string[],
  categories: readonly string[],
  scoring: Record<string, DetectorReport>,
): EvaluationChart {
  return {
    name: 'detector-scoring',
    title: 'Detector-Scoring per category (mean P(real) × 100, 95% CI)',
    series: [...detectorNames],
    groups: [...categories],
    kind: 'bar',
    spec: {
      groups: categories,
      series: detectorNames.map((n) => ({
        name: n,
        values: categories.map((c) => scoring[n]?.byCategory[c]?.score ?? null),
        ci: categories.map((c) => scoring[n]?.byCategory[c]?.scoreCi ?? null),
      })),
      ...SCORE_AXES,
      xTitle: 'category',
      yTitle: 'mean P(real) × 100',
    },
  };
}

export function arenaChart(categories: readonly string[], byCategory: Record<string, ArenaSummary>): EvaluationChart {
  return {
    name: 'arena',
    title: 'Arena win rate vs real per category (%, 95% Wilson CI; 50 = indistinguishable)',
    series: ['win rate'],
    groups: [...categories],
    kind: 'bar',
    spec: {
      groups: categories,
      series: [
        {
          name: 'win rate',
          values: categories.map((c) => ((byCategory[c]?.winRate ?? null) === null ? null : (byCategory[c]?.winRate ?? 0) * 100)),
          ci: categories.map((c) => {
            const iv = byCategory[c]?.interval;
            return iv ? ([iv.lower * 100, iv.upper * 100] as const) : null;
          }),
        },
      ],
      ...SCORE_AXES,
      xTitle: 'category',
      yTitle: 'win rate vs real (%)',
    },
  };
}

/** Score per checkpoint step of a training run; null without history. */
export function historyChart(detectorNames: readonly string[], history: readonly HistoryPoint[]): EvaluationChart | null {
  if (history.length === 0) return null;
  return {
    name: 'history',
    title: 'Score per checkpoint step (Detector-Scoring; arena win rate × 100)',
    series: [...detectorNames, 'arena win rate'],
    groups: [],
    kind: 'line',
    spec: {
      series: [
        ...detectorNames.map((n) => ({
          name: n,
          points: history.flatMap((h) =>
            h.detectorScoring[n] == null ? [] : [[h.step, h.detectorScoring[n] as number] as const],
          ),
        })),
        {
          name: 'arena win rate',
          points: history.flatMap((h) => (h.arenaWinRate === null ? [] : [[h.step, h.arenaWinRate * 100] as const])),
        },
      ],
      ...SCORE_AXES,
      xTitle: 'checkpoint step',
      yTitle: 'score',
    },
  };
}

/** The stage's mean reward per training step up to the evaluated checkpoint; null without a curve. */
export function rewardChart(
  checkpoint: { stage: string; step: number },
  curve: ReadonlyArray<{ step: number; reward: number }>,
): EvaluationChart | null {
  if (curve.length === 0) return null;
  return {
    name: 'reward',
    title: `Training reward of ${checkpoint.stage} up to step ${checkpoint.step} (mean weighted reward per step)`,
    series: ['mean reward'],
    groups: [],
    kind: 'line',
    spec: {
      series: [{ name: 'mean reward', points: curve.map((p) => [p.step, p.reward] as const) }],
      yMin: 0,
      yMax: Math.max(1, ...curve.map((p) => p.reward)),
      xTitle: 'training step (GRPO epoch)',
      yTitle: 'mean reward',
    },
  };
}
