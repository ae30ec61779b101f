/** The JSON body a webhook target receives: the generic event object, or a Slack-compatible `{ text }`. */
import type { NotificationMessage } from '../../contracts/notifications';

/** Renders a headline number: integers as they are, fractions to 4 significant digits. */
function show(value: number | string | null): string {
  if (value === null) return '-';
  if (typeof value === 'string') return value;
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

/** The body for a target of `format`. */
export function webhookBody(format: 'json' | 'slack', message: NotificationMessage): unknown {
  if (format === 'json') return { source: 'realgen', ...message };
  const numbers = Object.entries(message.numbers)
    .map(([k, v]) => `${k}: ${show(v)}`)
    .join(' · ');
  // Slack mrkdwn: bold title, the numbers, and the link as <url|label>.
  return { text: `*${message.title}*${numbers === '' ? '' : `\n${numbers}`}\n<${message.link}|Open in the realgen dashboard>` };
}
