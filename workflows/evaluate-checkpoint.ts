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
import type { EvaluationActivities } from '../activities/evaluation';
import type { EvalSpec, EvaluationResult, ShardInput, ShardStepResult } from '../contracts/evaluation';

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
  // Planning reads the RealBench jsonl (and mirrors it from S3 when configured that way).
  const planner = proxyActivities<EvaluationActivities>({
    taskQueue: input.taskQueues.cpu,
    startToCloseTimeout: '30 minutes', // a first S3 mirror of RealBench downloads ~1k photos
    heartbeatTimeout: '2 minutes', // one heartbeat per mirrored file
    retry: { maximumAttempts: 5 },
  });
  // Generation and detector scoring hold the accelerator; they heartbeat per batch / per detector.
  const gpu = proxyActivities<EvaluationActivities>({
    taskQueue: input.taskQueues.gpu,
    startToCloseTimeout: '2 hours', // a shard of a large external generator at 1024² can take that long
    heartbeatTimeout: '5 minutes', // model load + one batch or one detector pass is the longest silent phase
    retry: { maximumAttempts: 5 },
  });
  // Arena judging on the CPU queue: an LLM judge is network-bound, the local judge is two tiny detector calls per pair.
  const judge = proxyActivities<EvaluationActivities>({
    taskQueue: input.taskQueues.cpu,
    startToCloseTimeout: '2 hours', // rate-limited LLM endpoints with retries and backoff
    heartbeatTimeout: '5 minutes', // one heartbeat per chunk of concurrency×2 pairs
    retry: { maximumAttempts: 5 },
  });
  // Aggregation re-reads every shard's JSON and renders charts and the HTML report.
  const reporter = proxyActivities<EvaluationActivities>({
    taskQueue: input.taskQueues.cpu,
    startToCloseTimeout: '20 minutes', // a full-suite report with images inlined
    heartbeatTimeout: '5 minutes', // heartbeats between phases
    retry: { maximumAttempts: 5 },
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
  const plan = await planner.planEvaluation(spec);
  const planRef = { evalDigest: plan.evalDigest, shardsPrefix: plan.shardsPrefix, planKey: plan.planKey };
  const steps = await mapLimit(plan.shards, input.shardConcurrency ?? 2, async (shard): Promise<ShardStepResult[]> => {
    const shardInput: ShardInput = { spec, plan: planRef, shard: shard.index };
    const generated = await gpu.generateShard(shardInput);
    const scored = await gpu.scoreShard(shardInput);
    const judged = await judge.judgeShard(shardInput);
    return [generated, scored, judged];
  });
  const result = await reporter.aggregateEvaluation({ spec, plan });
  return { ...result, skippedSteps: steps.flat().filter((s) => s.skipped).length };
}
