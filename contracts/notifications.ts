/**
 * Notification messages: what the workflows tell the webhook targets of `notifications:` (configs/schema.ts).
 * Plain JSON, built in workflow code (no secrets: target URLs stay SecretRefs until the delivery activity).
 */
import type { NotificationEvent, NotificationsConfig } from '../configs/schema';

/** One event, as every target receives it (the Slack format renders the same fields as text). */
export interface NotificationMessage {
  event: NotificationEvent;
  /** The run the event belongs to (null for an evaluation of something that is not a run's checkpoint). */
  runId: string | null;
  /** One line, e.g. `run r1 finished`. */
  title: string;
  /** Headline numbers (steps, rewards, GPU-hours, scores); null = not measured. */
  numbers: Record<string, number | string | null>;
  /** Where to look: `<dashboardUrl>/runs/<run>` (or `/evals/<evalKey>` for an evaluation of no run). */
  link: string;
  /** When the event happened (ISO time, workflow time). */
  at: string;
}

/** The dashboard link of a run or an evaluation. */
export function dashboardLink(
  notifications: Pick<NotificationsConfig, 'dashboardUrl'>,
  subject: { runId: string } | { evalKey: string },
): string {
  const base = notifications.dashboardUrl.replace(/\/+$/, '');
  return 'runId' in subject
    ? `${base}/runs/${encodeURIComponent(subject.runId)}`
    : `${base}/evals/${subject.evalKey.split('/').map(encodeURIComponent).join('/')}`;
}

/** Indexes of the targets that subscribed to `event` (configs of runs started before notifications have none). */
export function subscribedTargets(notifications: NotificationsConfig | undefined, event: NotificationEvent): number[] {
  return (notifications?.targets ?? []).flatMap((t, i) => (t.events.includes(event) ? [i] : []));
}
