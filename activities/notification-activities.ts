/**
 * `sendNotification`: one webhook delivery attempt. Retried by the `deliverNotification` workflow's policy: a network
 * error, a timeout, 408, 429 or a 5xx throw a retryable error; any other 4xx means the target is misconfigured and is
 * not retried. The URL is resolved here (never in a workflow) and never appears in an error.
 */
import { Context } from '@temporalio/activity';
import type { NotificationsConfig } from '../configs/schema';
import { readSecret } from '../configs/secrets';
import { realgenFailure } from '../contracts/failures';
import type { NotificationMessage } from '../contracts/notifications';
import { webhookBody } from '../domain/notifications/webhook-body';
import { postWebhook } from '../infra/notifications/webhook';

export interface SendNotificationInput {
  message: NotificationMessage;
  target: NotificationsConfig['targets'][number];
  configBaseDir: string;
  timeoutSeconds: number;
}

export function createNotificationActivities() {
  return {
    async sendNotification(input: SendNotificationInput): Promise<{ attempt: number; status: number }> {
      const { target } = input;
      let url: string;
      try {
        url = readSecret(target.url, input.configBaseDir, `notifications.targets[${target.name}].url`);
      } catch (err) {
        // An env variable or file may appear later (an operator fixes the worker): retried like a down receiver.
        throw new Error((err as Error).message);
      }
      const { status } = await postWebhook(url, webhookBody(target.format, input.message), input.timeoutSeconds * 1000);
      if (status >= 200 && status < 300) return { attempt: Context.current().info.attempt, status };
      const what = `notification target ${target.name} answered HTTP ${status}`;
      if (status === 408 || status === 429 || status >= 500) throw new Error(what);
      throw realgenFailure('ConfigInvalid', `${what}; not retried (check the target's URL and format)`, {
        target: target.name,
        status,
      });
    },
  };
}
