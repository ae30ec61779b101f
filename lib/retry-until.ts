/** Retrying a start-up step (a connection) with capped exponential backoff until a deadline. */

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RetryUntilOptions {
  /** Give up (rethrowing the last error) after this many milliseconds. */
  withinMs: number;
  /** First wait between attempts; doubled up to `maxDelayMs`. @default 250 */
  firstDelayMs?: number;
  /** @default 5000 */
  maxDelayMs?: number;
  /** Called after each failed attempt that will be retried. */
  onRetry?: (err: unknown, attempt: number, nextInMs: number) => void;
}

/** Runs `step` until it resolves; after `withinMs` the last error is thrown. */
export async function retryUntil<T>(step: () => Promise<T>, options: RetryUntilOptions): Promise<T> {
  const deadline = Date.now() + options.withinMs;
  let wait = options.firstDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      const next = Math.min(wait, deadline - Date.now());
      if (next <= 0) throw err;
      options.onRetry?.(err, attempt, next);
      await delay(next);
      wait = Math.min(wait * 2, options.maxDelayMs ?? 5000);
    }
  }
}
