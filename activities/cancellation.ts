/** The running activity's cancellation signal, usable (as a no-op) outside an activity too, like heartbeat.ts. */
import { Context } from '@temporalio/activity';

/** The activity's cancellation signal, or undefined outside an activity. */
export function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** Throws the cancellation reason once the activity has been cancelled (call between units of work). */
export function throwIfCancelled(): void {
  const signal = cancellation();
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('activity cancelled');
}
