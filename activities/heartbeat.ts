/** Heartbeats that are a no-op outside an activity (so activity bodies also run from tests and benches). */
import { Context } from '@temporalio/activity';

/** Records `details` as the activity's heartbeat when running inside an activity. */
export function heartbeat(details?: unknown): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  ctx.heartbeat(details);
}
