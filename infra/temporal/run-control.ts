/**
 * Steering a run: pause, resume and cancel, as one function the CLI (`realgen pause|resume|cancel`) and the dashboard
 * (`realgen ui`) both call, so a button sends exactly the update a command sends.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { runWorkflowId, stageWorkflowId } from '../../contracts/ids';
import {
  pauseUpdate,
  pipelineProgressQuery,
  resumeUpdate,
  runPauseUpdate,
  runResumeUpdate,
} from '../../contracts/training-messages';

export type RunControlAction = 'pause' | 'resume' | 'cancel';

/** What an action did, with a one-line description for a terminal or a page. */
export interface RunControlResult {
  action: RunControlAction;
  workflowId: string;
  /** After pause/resume: whether the run (or stage) now holds. Null after cancel. */
  paused: boolean | null;
  message: string;
}

/** An update's validation error reads better than "Workflow Update failed". */
export function updateError(err: unknown): Error {
  const cause = (err as { cause?: Error }).cause;
  return new Error(cause?.message ?? (err as Error).message);
}

/** The running stage of a run, or stage `stage` when given. */
export async function stageHandle(client: Client, runId: string, stage?: number): Promise<WorkflowHandle> {
  if (stage !== undefined) return client.workflow.getHandle(stageWorkflowId(runId, stage));
  const p = await client.workflow.getHandle(runWorkflowId(runId)).query(pipelineProgressQuery);
  if (p.currentStage === null) throw new Error(`run ${runId} has no stage running (phase ${p.phase}); name one with --stage`);
  return client.workflow.getHandle(stageWorkflowId(runId, p.currentStage));
}

/**
 * Sends `action` to run `runId`: pause/resume go to the pipeline (which holds the whole run and tells its running
 * stage), or to stage `stage` alone; cancel requests cancellation of the pipeline or that stage and, with `wait`,
 * waits for it to close (the trainer commits a checkpoint first).
 */
export async function controlRun(
  client: Client,
  runId: string,
  action: RunControlAction,
  options: { stage?: number; wait?: boolean } = {},
): Promise<RunControlResult> {
  if (action === 'cancel') {
    const workflowId = options.stage === undefined ? runWorkflowId(runId) : stageWorkflowId(runId, options.stage);
    const handle = client.workflow.getHandle(workflowId);
    await handle.cancel();
    if (!options.wait) return { action, workflowId, paused: null, message: `${workflowId}: cancellation requested` };
    await handle.result().catch(() => undefined);
    return { action, workflowId, paused: null, message: `${workflowId}: ${(await handle.describe()).status.name}` };
  }
  if (options.stage === undefined) {
    const run = client.workflow.getHandle(runWorkflowId(runId));
    const ack = await run.executeUpdate(action === 'pause' ? runPauseUpdate : runResumeUpdate).catch((err: unknown) => {
      throw updateError(err);
    });
    const where = ack.stage === null ? '' : ` (stage-${ack.stage})`;
    const message = `run ${runId}: ${ack.paused ? `paused since ${ack.pausedSince}` : 'resumed'}${where}`;
    return { action, workflowId: run.workflowId, paused: ack.paused, message };
  }
  const handle = await stageHandle(client, runId, options.stage);
  const send = action === 'pause' ? handle.executeUpdate(pauseUpdate) : handle.executeUpdate(resumeUpdate);
  const ack = await send.catch((err: unknown) => {
    throw updateError(err);
  });
  return {
    action,
    workflowId: handle.workflowId,
    paused: ack.paused,
    message: `${handle.workflowId}: ${ack.paused ? 'paused' : 'resumed'} at step ${ack.step}`,
  };
}
