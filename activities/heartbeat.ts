/** Heartbeats that are a no-op outside an activity (so activity bodies also run from tests and benches). */
import { Context } from '@temporalio/activity';

/** The last details each running activity recorded, so a keep-alive beat repeats them instead of erasing them. */
const lastDetails = new WeakMap<Context, unknown>();

function currentContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}

/** Records `details` as the activity's heartbeat when running inside an activity. */
export function heartbeat(details?: unknown): void {
  const ctx = currentContext();
  if (!ctx) return;
  lastDetails.set(ctx, details);
  ctx.heartbeat(details);
}

/**
 * Runs `work` while heartbeating every `everyMs` (repeating the last recorded details): the heartbeat then says "the
 * worker process holding this attempt is alive", so a short heartbeat timeout notices a killed worker within seconds
 * even where `work` has long silent phases (a model load, one long batch). A hung `work` is bounded by the activity's
 * start-to-close timeout instead. Outside an activity it just runs `work`.
 */
export async function withKeepAlive<T>(work: () => Promise<T>, everyMs = 1000): Promise<T> {
  const ctx = currentContext();
  if (!ctx) return await work();
  const timer = setInterval(() => ctx.heartbeat(lastDetails.get(ctx)), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
