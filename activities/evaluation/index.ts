/** RealBench evaluation activities, split by the task-queue class that serves them. */
import { createEvaluationActivities, type EvaluationActivityDeps } from './evaluation-activities';

export { createEvaluationActivities, type EvaluationActivities, type EvaluationActivityDeps } from './evaluation-activities';
export type * from '../../contracts/evaluation';

/** GPU queue: generation and detector scoring. */
export function evaluationGpuActivities(deps: EvaluationActivityDeps) {
  const a = createEvaluationActivities(deps);
  return { generateShard: a.generateShard, scoreShard: a.scoreShard };
}

/** CPU queue: planning, arena judging, aggregation/reports, joining an evaluation. */
export function evaluationCpuActivities(deps: EvaluationActivityDeps) {
  const a = createEvaluationActivities(deps);
  return { planEvaluation: a.planEvaluation, judgeShard: a.judgeShard, aggregateEvaluation: a.aggregateEvaluation, awaitEvaluation: a.awaitEvaluation };
}
