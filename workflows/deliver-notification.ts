/**
 * Delivery of one notification to every target subscribed to its event: one `sendNotification` activity per target,
 * retried with backoff until it is accepted or `giveUpHours` pass. Workflows start it as an ABANDONed child
 * (`notifyEvent`), so a receiver that is down delays nothing, and a message is not lost while it retries.
 */
import { ParentClosePolicy, patched, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { CpuQueueActivities } from '../activities/registry';
import type { NotificationsConfig, RunConfig } from '../configs/schema';
import { notificationWorkflowId } from '../contracts/ids';
import { subscribedTargets, type NotificationMessage } from '../contracts/notifications';

export interface DeliverNotificationInput {
  message: NotificationMessage;
  notifications: NotificationsConfig;
  /** Folder that `{ file }` secret paths resolve against (on the worker). */
  configBaseDir: string;
}

/** Per target: delivered (with the attempt that succeeded), or given up with the last error. */
export interface DeliverNotificationResult {
  delivered: Array<{ target: string; attempts: number }>;
  failed: Array<{ target: string; error: string }>;
}

export async function deliverNotification(input: DeliverNotificationInput): Promise<DeliverNotificationResult> {
  const n = input.notifications;
  const send = proxyActivities<CpuQueueActivities>({
    taskQueue: workflowInfo().taskQueue,
    startToCloseTimeout: `${n.timeoutSeconds + 5} seconds`, // one HTTP POST with its own timeout
    scheduleToCloseTimeout: `${Math.round(n.giveUpHours * 3600)} seconds`, // retries go on this long, then give up
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: `${n.maxRetryIntervalSeconds} seconds` },
  });
  const result: DeliverNotificationResult = { delivered: [], failed: [] };
  await Promise.all(
    subscribedTargets(n, input.message.event).map(async (index) => {
      const target = n.targets[index];
      if (target === undefined) return;
      try {
        const { attempt } = await send.sendNotification({
          message: input.message,
          target,
          configBaseDir: input.configBaseDir,
          timeoutSeconds: n.timeoutSeconds,
        });
        result.delivered.push({ target: target.name, attempts: attempt });
      } catch (err) {
        result.failed.push({
          target: target.name,
          error: ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message,
        });
      }
    }),
  );
  return result;
}

/**
 * Starts the delivery of `message` without waiting for it (ABANDON: it outlives the caller). Nothing happens when no
 * target subscribed to the event (so histories of runs without notifications are unchanged). `subject` makes the
 * delivery's id (`notify/<event>/<subject>`); a delivery already running under that id is left to finish.
 */
export async function notifyEvent(
  run: { config: RunConfig; configBaseDir: string },
  subject: string,
  message: NotificationMessage,
): Promise<void> {
  const notifications = run.config.notifications as NotificationsConfig | undefined;
  if (notifications === undefined || subscribedTargets(notifications, message.event).length === 0) return;
  if (!patched('notifications')) return;
  try {
    await startChild<typeof deliverNotification>('deliverNotification', {
      workflowId: notificationWorkflowId(message.event, subject),
      taskQueue: run.config.taskQueues.cpu,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ message, notifications, configBaseDir: run.configBaseDir }],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
