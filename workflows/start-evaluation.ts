/**
 * Starting the RealBench evaluation of a training checkpoint from a workflow, once: the one way the stage, the
 * pipeline and the watcher start `evaluateCheckpoint` children.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, WorkflowIdReusePolicy, startChild } from '@temporalio/workflow';
import type { RunConfig } from '../configs/schema';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import { evalKeyOfWorkflowId, evalWorkflowId } from '../contracts/ids';
import { CHECKPOINT_STEP, RUN_ID, STAGE } from '../contracts/search-attributes';
import type { EvaluateCheckpointInput, evaluateCheckpoint } from './evaluate-checkpoint';

/** The checkpoint to evaluate and the run it belongs to. */
export interface CheckpointEvaluationRequest {
  ref: CheckpointRef;
  /** Leaderboard row name, e.g. `<run>/stage-1@10` or `<run>/final`. */
  name: string;
  runId: string;
  run: { config: RunConfig; configBaseDir: string; configDigest: string };
}

/** What the evaluation child is shown as in the Temporal UI list (memo and search attributes). */
export interface EvaluationMemo {
  runId: string;
  stage: string;
  step: number;
  name: string;
}

/** `eval/<checkpoint sha>/<suite>` for a realgen-mini checkpoint, on the config's suite and queues. */
export function checkpointEvaluation(request: CheckpointEvaluationRequest): {
  workflowId: string;
  input: EvaluateCheckpointInput;
} {
  const { ref, run } = request;
  const suite = run.config.realbench.suite;
  const workflowId = evalWorkflowId(ref.manifestSha256, suite);
  return {
    workflowId,
    input: {
      evalKey: evalKeyOfWorkflowId(workflowId),
      suite,
      source: { kind: 'mini-checkpoint', ref },
      name: request.name,
      config: run.config,
      configBaseDir: run.configBaseDir,
      configDigest: run.configDigest,
      taskQueues: run.config.taskQueues,
    },
  };
}

/**
 * Starts the evaluation child of a checkpoint; returns its workflow id and whether this call started it. ABANDON: an evaluation finishes on its
 * own even if the caller ends or is cancelled. An evaluation already running or finished under the same id (started
 * by another stage, a watcher or the CLI) counts as success: the id is the dedupe. Callers remember the ids they
 * got back, so they do not start the same child again (each failed start is a red event in the UI).
 */
export async function startEvaluationOnce(
  request: CheckpointEvaluationRequest,
): Promise<{ workflowId: string; started: boolean }> {
  const { workflowId, input } = checkpointEvaluation(request);
  const memo: EvaluationMemo = { runId: request.runId, stage: request.ref.stage, step: request.ref.step, name: request.name };
  try {
    await startChild<typeof evaluateCheckpoint>('evaluateCheckpoint', {
      workflowId,
      taskQueue: request.run.config.taskQueues.cpu,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      // A finished evaluation is not run again (a retried run skips it); a failed one may be.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      // So the UI's evaluation list says which run and step each (hash-named) evaluation belongs to.
      memo: { ...memo },
      typedSearchAttributes: [
        { key: RUN_ID, value: request.runId },
        { key: STAGE, value: request.ref.stage },
        { key: CHECKPOINT_STEP, value: request.ref.step },
      ],
      args: [input],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { workflowId, started: false };
  }
  return { workflowId, started: true };
}
