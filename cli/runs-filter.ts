/** `realgen runs` filters: a Temporal visibility query from `--status` and `--since`. */
import { parseShortDuration } from '../lib/duration';

/** The statuses `--status` accepts, as Temporal's visibility names them. */
const STATUS_NAMES = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  canceled: 'Canceled',
  terminated: 'Terminated',
  'timed-out': 'TimedOut',
  'continued-as-new': 'ContinuedAsNew',
} as const;

/** Parses `--status running,failed` into visibility status names; the error lists what is accepted. */
export function parseStatuses(value: string): string[] {
  const out = value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
    .map((s) => {
      const name = STATUS_NAMES[s as keyof typeof STATUS_NAMES] as string | undefined;
      if (name === undefined)
        throw new Error(
          `--status: expected one or more of ${Object.keys(STATUS_NAMES).join(' | ')} (comma-separated), got ${JSON.stringify(s)}`,
        );
      return name;
    });
  if (out.length === 0) throw new Error('--status: expected at least one status');
  return [...new Set(out)];
}

/** Parses `--since`: a duration back from `now` (`6h`, `2d`) or an ISO date/time; returns the instant. */
export function parseSince(value: string, now = Date.now()): Date {
  if (/^\d+[smhd]$/.test(value.trim())) return new Date(now - parseShortDuration(value, '--since'));
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value.trim()) || Number.isNaN(t)) {
    throw new Error(
      `--since: expected a duration back from now (45m, 6h, 2d) or an ISO date/time (2026-12-01, 2026-12-01T08:00:00Z), got ${JSON.stringify(value)}`,
    );
  }
  return new Date(t);
}

/** The list query of pipeline runs with these filters. */
export function runsQuery(filters: { statuses?: string[]; since?: Date }): string {
  const parts = [`WorkflowType = 'realgenPipeline'`];
  if (filters.statuses?.length) parts.push(`(${filters.statuses.map((s) => `ExecutionStatus = '${s}'`).join(' OR ')})`);
  if (filters.since) parts.push(`StartTime >= '${filters.since.toISOString()}'`);
  return parts.join(' AND ');
}
