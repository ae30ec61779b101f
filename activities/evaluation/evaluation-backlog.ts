/**
 * `checkpointsAwaitingEvaluation`: the committed checkpoints of a stage that are due an evaluation (step a multiple
 * of `evalEvery`) and have no finished report. A retried run's stage asks for them when it starts, so an evaluation
 * that failed (or never started) in an earlier execution runs again, while finished ones are not started twice.
 */
import type { CheckpointRef } from '../../contracts/checkpoint-manifest';
import { evalKeyOfWorkflowId, evalWorkflowId } from '../../contracts/ids';
import { createCheckpointDiscovery } from '../checkpoint-activities';
import type { EvaluationContext } from './evaluation-context';
import { objectExists, reportKeys } from './layout';

/** Input of `checkpointsAwaitingEvaluation`. */
export interface EvaluationBacklogInput {
  runId: string;
  /** Stage key, e.g. `stage-1`. */
  stage: string;
  /** Only steps that are multiples of this are due an evaluation (the stage's `evalEvery`). */
  evalEvery: number;
  /** The RealBench suite the stage's evaluations run on. */
  suite: string;
}

export function createEvaluationBacklog({ store }: Pick<EvaluationContext, 'store'>) {
  const discovery = createCheckpointDiscovery({ store });
  return async (input: EvaluationBacklogInput): Promise<CheckpointRef[]> => {
    const committed = await discovery.listCommittedCheckpoints({ runId: input.runId, stage: input.stage, afterStep: 0 });
    const due: CheckpointRef[] = [];
    for (const { ref } of committed) {
      if (ref.step % input.evalEvery !== 0) continue;
      // The report is written last, by a finished evaluation only: without it the evaluation failed, was cancelled,
      // is still running (its id dedupes a second start) or never started.
      const evalKey = evalKeyOfWorkflowId(evalWorkflowId(ref.manifestSha256, input.suite));
      if (!(await objectExists(store, reportKeys(evalKey).json))) due.push(ref);
    }
    return due;
  };
}
