/**
 * RealBench evaluation of one subject (a realgen-mini checkpoint or the base generator, an uploaded image folder,
 * an external generator command) on one suite, as a DAG:
 *
 *   plan ─┬─ shard 0: generate (GPU) → score (GPU) → judge (CPU) ─┬─ aggregate + report (CPU)
 *         ├─ shard 1: …                                          ─┤
 *         └─ …  (at most `shardConcurrency` shards in flight)      ┘
 *
 * Id: `eval/<checkpoint sha>/<suite>` (ids.ts), `eval/images-<name>/<suite>` and friends (ids.ts); one running
 * evaluation per id is the dedupe. Every step's output is an object under `evals/<evalKey>/` and every step first
 * checks for it, so a retried step or a restarted evaluation skips finished shards.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { CpuQueueActivities, GpuQueueActivities } from '../activities/registry';
import type { EvalSpec, EvaluationResult, ShardInput, ShardStepResult } from '../contracts/evaluation';
import { evaluationHeartbeatSeconds } from '../contracts/heartbeat-timeout';
import { gpuPriority } from '../contracts/gpu-priority';
import { dashboardLink } from '../contracts/notifications';
import { notifyEvent } from './deliver-notification';

/** The evaluation itself (`EvalSpec`: key, suite, source, row name, config) plus where its activities run. */
export interface EvaluateCheckpointInput extends EvalSpec {
  taskQueues: { gpu: string; cpu: string };
  /** Shards in flight at once. @default 2 */
  shardConcurrency?: number;
}

export type { EvaluationResult } from '../contracts/evaluation';

/** Runs `fn` over `items` with at most `limit` in flight (deterministic: completions come from history). */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

export async function evaluateCheckpoint(input: EvaluateCheckpointInput): Promise<EvaluationResult> {
  // CPU queue: planning (a first S3 mirror of RealBench), arena judging (network-bound LLM or two tiny detector
  // calls per pair) and aggregation (re-reads every shard, renders charts and the report).
  const heartbeatSeconds = evaluationHeartbeatSeconds(input.config);
  const cpu = proxyActivities<CpuQueueActivities>({
    taskQueue: input.taskQueues.cpu,
    startToCloseTimeout: '2 hours', // the longest CPU step: judging a shard against a rate-limited LLM endpoint
    // Evaluation activities heartbeat every second while they run: a killed worker is noticed within this timeout.
    heartbeatTimeout: `${heartbeatSeconds}s`,
    retry: { maximumAttempts: 5 },
  });
  // GPU queue: generation and detector scoring hold the accelerator; they heartbeat per batch / per detector.
  const gpu = proxyActivities<GpuQueueActivities>({
    taskQueue: input.taskQueues.gpu,
    startToCloseTimeout: '2 hours', // a shard of a large external generator at 1024² can take that long
    heartbeatTimeout: `${heartbeatSeconds}s`,
    retry: { maximumAttempts: 5 },
    // In the GPU queue by the run's priority; a run's evaluations share its fairness key (its run id), so runs of
    // equal priority share the slots fairly; other subjects are keyed by their evaluation key.
    priority: gpuPriority(
      input.config,
      input.source.kind === 'mini-checkpoint' && input.source.ref ? input.source.ref.runId : input.evalKey,
    ),
  });

  const spec: EvalSpec = {
    evalKey: input.evalKey,
    suite: input.suite,
    source: input.source,
    name: input.name,
    config: input.config,
    configBaseDir: input.configBaseDir,
    configDigest: input.configDigest,
  };
  const plan = await cpu.planEvaluation(spec);
  const planRef = { evalDigest: plan.evalDigest, shardsPrefix: plan.shardsPrefix, planKey: plan.planKey };
  const steps = await mapLimit(plan.shards, input.shardConcurrency ?? 2, async (shard): Promise<ShardStepResult[]> => {
    const shardInput: ShardInput = { spec, plan: planRef, shard: shard.index };
    const generated = await gpu.generateShard(shardInput);
    const scored = await gpu.scoreShard(shardInput);
    const judged = await cpu.judgeShard(shardInput);
    return [generated, scored, judged];
  });
  const gpuSeconds = steps.flat().reduce((sum, s) => sum + (s.gpuSeconds ?? 0), 0);
  const result = await cpu.aggregateEvaluation({ spec, plan, gpuSeconds });
  const done: EvaluationResult = { ...result, skippedSteps: steps.flat().filter((s) => s.skipped).length, gpuSeconds };
  const runId = input.source.kind === 'mini-checkpoint' ? (input.source.ref?.runId ?? null) : null;
  const notifications = input.config.notifications ?? { dashboardUrl: '' };
  await notifyEvent(input, `${input.evalKey}`, {
    event: 'evaluation-finished',
    runId,
    title: `evaluation ${input.name} (${input.suite}) finished`,
    numbers: {
      arenaWinRate: done.headline.arenaWinRate,
      ...Object.fromEntries(Object.entries(done.headline.detectorScoring).map(([k, v]) => [`P(real)×100 ${k}`, v])),
      images: done.headline.images,
      gpuHours: gpuSeconds / 3600,
    },
    link: dashboardLink(notifications, runId !== null ? { runId } : { evalKey: input.evalKey }),
    at: new Date().toISOString(),
  });
  return done;
}
