/**
 * RealBench evaluation activities (docs/evaluation.md): plan → per shard generate (GPU) → score (GPU) → judge (CPU)
 * → aggregate (CPU), grouped by the task-queue class that serves them. One file per step:
 *
 *   plan.ts       planEvaluation      evaluation digest, shards, plan.json
 *   generate.ts   generateShard       one backend per source in generators/ (mini checkpoint, uploaded folder, command)
 *   score.ts      scoreShard          every evaluation detector → scores.json
 *   judge.ts      judgeShard          arena judge backends in judges/ (local detector, OpenAI-compatible model)
 *   aggregate.ts  aggregateEvaluation statistics, history, charts, grid, report and leaderboard entry
 *   evaluation-backlog.ts  checkpointsAwaitingEvaluation  a stage's due checkpoints without a finished report
 *
 * Every shard step first looks for its output object and returns at once when it exists, so a retried activity or a
 * restarted evaluation never recomputes a finished shard; within a shard, generation also skips images already
 * uploaded. Output objects are written last (after the images they reference).
 */
import { withKeepAlive } from '../heartbeat';
import { createAggregateEvaluation } from './aggregate';
import { createEvaluationBacklog } from './evaluation-backlog';
import { createEvaluationContext, type EvaluationActivityDeps } from './evaluation-context';
import { createGenerateShard } from './generate';
import { createJudgeShard } from './judge';
import { createPlanEvaluation } from './plan';
import { createScoreShard } from './score';

export type { EvaluationActivityDeps } from './evaluation-context';
export type * from '../../contracts/evaluation';

/**
 * Every evaluation activity heartbeats while it runs (activities/heartbeat.ts `withKeepAlive`), so the workflow's
 * short heartbeat timeout (workers.gpu.heartbeatTimeoutSeconds) retries the shard of a killed worker within seconds.
 */
function keptAlive<A extends unknown[], R>(activity: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args: A) => withKeepAlive(() => activity(...args));
}

/** GPU queue: generation and detector scoring (sharing one set of loaded models). */
export function evaluationGpuActivities(deps: EvaluationActivityDeps) {
  const ctx = createEvaluationContext(deps);
  return { generateShard: keptAlive(createGenerateShard(ctx)), scoreShard: keptAlive(createScoreShard(ctx)) };
}

/** CPU queue: planning, arena judging, aggregation and reports. */
export function evaluationCpuActivities(deps: EvaluationActivityDeps) {
  const ctx = createEvaluationContext(deps);
  return {
    planEvaluation: keptAlive(createPlanEvaluation(ctx)),
    judgeShard: keptAlive(createJudgeShard(ctx)),
    aggregateEvaluation: keptAlive(createAggregateEvaluation(ctx)),
    checkpointsAwaitingEvaluation: keptAlive(createEvaluationBacklog(ctx)),
  };
}
