/** The input of an `evaluateCheckpoint` child for a training checkpoint, built in one place. */
import type { RunConfig } from '../configs/schema';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import type { EvaluateCheckpointInput } from './evaluate-checkpoint';
import { evalKeyOfWorkflowId, evalWorkflowId } from '../contracts/ids';

export interface CheckpointEvaluation {
  workflowId: string;
  input: EvaluateCheckpointInput;
}

/** `eval/<checkpoint sha>/<suite>` for a realgen-mini checkpoint, on the config's suite and queues. */
export function checkpointEvaluation(
  ref: CheckpointRef,
  name: string,
  run: { config: RunConfig; configBaseDir: string; configDigest: string },
): CheckpointEvaluation {
  const suite = run.config.realbench.suite;
  const workflowId = evalWorkflowId(ref.manifestSha256, suite);
  return {
    workflowId,
    input: {
      evalKey: evalKeyOfWorkflowId(workflowId),
      suite,
      source: { kind: 'mini-checkpoint', ref },
      name,
      config: run.config,
      configBaseDir: run.configBaseDir,
      configDigest: run.configDigest,
      taskQueues: run.config.taskQueues,
    },
  };
}
