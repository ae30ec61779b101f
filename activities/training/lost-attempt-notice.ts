/**
 * The `worker-lost` notification. Only the next attempt of a trainer segment learns that the previous one was lost
 * (its heartbeats stopped: a worker died, or the trainer crashed), so that attempt starts the delivery workflow
 * itself, through the worker's client, once per attempt (the id dedupes a retried start). Never fails the segment.
 */
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { notificationWorkflowId } from '../../contracts/ids';
import { dashboardLink, subscribedTargets, type NotificationMessage } from '../../contracts/notifications';
import type { RunConfig } from '../../configs/schema';

/** Starts the `worker-lost` delivery when this is a retry of an attempt that had heartbeated. */
export async function noticeLostAttempt(
  input: { runId: string; stage: number; segment: number; config: RunConfig; configBaseDir: string },
  lastStep: number | null,
): Promise<void> {
  const ctx = Context.current();
  const notifications = input.config.notifications;
  if (ctx.info.attempt < 2 || ctx.info.heartbeatDetails === undefined) return;
  if (subscribedTargets(notifications, 'worker-lost').length === 0) return;
  const stageKey = `stage-${input.stage}`;
  const message: NotificationMessage = {
    event: 'worker-lost',
    runId: input.runId,
    title: `run ${input.runId}: ${stageKey} segment ${input.segment} lost its attempt ${ctx.info.attempt - 1}; resuming on attempt ${ctx.info.attempt}`,
    numbers: { segment: input.segment, attempt: ctx.info.attempt, lastHeartbeatStep: lastStep },
    link: dashboardLink(notifications, { runId: input.runId }),
    at: new Date().toISOString(),
  };
  try {
    await ctx.client.workflow.start('deliverNotification', {
      workflowId: notificationWorkflowId(
        'worker-lost',
        `${input.runId}/${stageKey}/segment-${input.segment}/attempt-${ctx.info.attempt}`,
      ),
      taskQueue: input.config.taskQueues.cpu,
      args: [{ message, notifications, configBaseDir: input.configBaseDir }],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return;
    // Telling about the lost attempt must never cost the segment its retry.
    ctx.log.warn('worker-lost notification not started', { error: (err as Error).message });
  }
}
