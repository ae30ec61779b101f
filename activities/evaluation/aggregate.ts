/**
 * `aggregateEvaluation`: collects every shard's outputs, computes the statistics (domain/report/evaluation-summary),
 * draws the run's history from earlier leaderboard entries, renders the charts and the generated-vs-real grid, and
 * writes report.json/.md/.html and the leaderboard entry (the entry last).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AggregateInput, EvalSpec, EvaluationPlan, EvaluationResult } from '../../contracts/evaluation';
import { realgenFailure } from '../../contracts/failures';
import type { DetectorScoreItem } from '../../domain/realbench/detector-scoring';
import {
  arenaChart,
  detectorScoringChart,
  historyChart,
  rewardChart,
  type EvaluationChart,
} from '../../domain/report/evaluation-charts';
import { assembleReport, leaderboardEntryOf, reportSource } from '../../domain/report/evaluation-report';
import { summarizeEvaluation } from '../../domain/report/evaluation-summary';
import { renderHtml, renderMarkdown } from '../../domain/report/render-report';
import { historyOf } from '../../domain/report/report-history';
import type { ReportChart } from '../../domain/report/report-model';
import type { JudgeCost } from '../../infra/judges/openai-judge';
import { barChartPng, lineChartPng } from '../../infra/report/charts';
import { renderImageGrid } from '../../infra/report/image-grid';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { heartbeat } from '../heartbeat';
import { judgeLabel } from './eval-spec';
import type { EvaluationContext } from './evaluation-context';
import { getJson, listLeaderboardEntries, mustGetBytes, putBytes, putJson, reportKeys, shardKeys } from './layout';
import {
  readPlan,
  type GeneratedItem,
  type GeneratedShard,
  type JudgedItem,
  type JudgedShard,
  type ScoredShard,
} from './shard-records';

interface CollectedShards {
  generated: GeneratedItem[];
  scored: DetectorScoreItem[];
  judged: JudgedItem[];
  /** Summed over the shards; undefined when no shard had a model judge. */
  cost?: JudgeCost;
}

/** Every shard's generated.json, scores.json and judgements.json; an incomplete shard is a non-retryable failure. */
async function collectShards(store: CheckpointStore, spec: EvalSpec, plan: EvaluationPlan): Promise<CollectedShards> {
  const out: CollectedShards = { generated: [], scored: [], judged: [] };
  const cost: JudgeCost = { requests: 0, retries: 0, parseRetries: 0, promptTokens: 0, completionTokens: 0 };
  let anyCost = false;
  for (const s of plan.shards) {
    const keys = shardKeys(plan.shardsPrefix, s.index);
    const [g, sc, j] = await Promise.all([
      getJson<GeneratedShard>(store, keys.generated),
      getJson<ScoredShard>(store, keys.scores),
      getJson<JudgedShard>(store, keys.judgements),
    ]);
    if (g === null || sc === null || j === null)
      throw realgenFailure('DatasetMissing', `shard ${s.index} of ${spec.evalKey} is incomplete (generated/scores/judgements)`);
    out.generated.push(...g.items);
    out.scored.push(...sc.items);
    out.judged.push(...j.items);
    if (j.cost) {
      anyCost = true;
      for (const k of Object.keys(cost) as Array<keyof JudgeCost>) cost[k] += j.cost[k];
    }
  }
  return anyCost ? { ...out, cost } : out;
}

/** The stage's training reward curve (built-in trainer checkpoints keep it in state.json); empty when absent. */
async function rewardCurve(store: CheckpointStore, checkpointPrefix: string): Promise<Array<{ step: number; reward: number }>> {
  const state = await getJson<{ rewardHistory?: Array<{ step: number; reward: number }> }>(
    store,
    `${checkpointPrefix}state.json`,
  ).catch(() => null);
  return state?.rewardHistory ?? [];
}

export function createAggregateEvaluation({ store, caches }: EvaluationContext) {
  /**
   * Detector-Scoring (per detector and category, 95% bootstrap CIs), arena win rate vs real (Wilson CI) and
   * position consistency; writes report.json/.md/.html, charts, a generated-vs-real grid and the leaderboard entry.
   */
  return async function aggregateEvaluation(input: AggregateInput): Promise<EvaluationResult> {
    const { spec, plan } = input;
    const stored = await readPlan(store, { spec, plan, shard: 0 });
    const shards = await collectShards(store, spec, plan);
    heartbeat({ aggregating: spec.evalKey });
    const categories = [...new Set(stored.items.map((it) => it.category))].sort();
    const detectorNames = spec.config.evaluation.detectors.map((d) => d.name);
    const summary = summarizeEvaluation({
      scored: shards.scored,
      judged: shards.judged,
      categories,
      detectorNames,
      seed: spec.config.seed,
      images: shards.generated.length,
    });
    const rk = reportKeys(spec.evalKey);
    const source = reportSource(spec);

    // History of this run and stage (mini checkpoints): earlier leaderboard entries plus this one.
    const history =
      source.kind === 'mini-checkpoint' && source.checkpoint !== null
        ? historyOf(
            { evalKey: spec.evalKey, suite: spec.suite, source, headline: summary.headline },
            await listLeaderboardEntries(store),
          )
        : [];
    const specs: Array<EvaluationChart | null> = [
      detectorScoringChart(detectorNames, categories, summary.detectorScoring),
      arenaChart(categories, summary.byCategory),
      historyChart(detectorNames, history),
      source.kind === 'mini-checkpoint' && source.checkpoint !== null
        ? rewardChart(source.checkpoint, await rewardCurve(store, source.checkpoint.prefix))
        : null,
    ];
    const charts: ReportChart[] = [];
    const chartPngs: Record<string, Buffer> = {};
    for (const chart of specs) {
      if (chart === null) continue;
      const { kind, spec: chartSpec, ...entry } = chart;
      const png = kind === 'bar' ? await barChartPng(chartSpec) : await lineChartPng(chartSpec);
      const key = rk.chart(entry.name);
      chartPngs[entry.name] = png;
      await putBytes(store, key, png, 'image/png');
      charts.push({ ...entry, key });
    }

    // Contact sheet: the first item of each category.
    const dir = await caches.benchDir(spec);
    const byId = new Map(stored.items.map((it) => [it.id, it]));
    const gridItems = categories.flatMap((c) => {
      const g = shards.generated.find((it) => it.category === c);
      return g ? [g] : [];
    });
    const gridPng = await renderImageGrid(
      await Promise.all(
        gridItems.map(async (g) => ({
          generated: await mustGetBytes(store, g.key, 'generated image'),
          real: await readFile(path.join(dir, byId.get(g.id)?.file ?? '')),
        })),
      ),
      { cell: 128 },
    );
    await putBytes(store, rk.grid, gridPng, 'image/png');

    const report = assembleReport({
      spec,
      plan,
      summary,
      judge: judgeLabel(spec),
      ...(shards.cost ? { cost: shards.cost } : {}),
      charts,
      grid: { key: rk.grid, ids: gridItems.map((g) => g.id) },
      history,
      keys: { json: rk.json, md: rk.md, html: rk.html, leaderboardEntry: rk.leaderboardEntry },
      createdAt: new Date().toISOString(),
      ...(input.gpuSeconds !== undefined ? { gpuSeconds: input.gpuSeconds } : {}),
    });
    await putBytes(store, rk.md, renderMarkdown(report), 'text/markdown; charset=utf-8');
    await putBytes(store, rk.html, renderHtml(report, { charts: chartPngs, grid: gridPng }), 'text/html; charset=utf-8');
    await putJson(store, rk.json, report);
    await putJson(store, rk.leaderboardEntry, leaderboardEntryOf(report, summary, plan.images));
    return {
      evalKey: spec.evalKey,
      name: spec.name,
      suite: spec.suite,
      reportKeys: report.keys,
      headline: summary.headline,
      skippedSteps: 0,
      ...(input.gpuSeconds !== undefined ? { gpuSeconds: input.gpuSeconds } : {}),
    };
  };
}
