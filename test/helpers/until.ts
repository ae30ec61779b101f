/** Polling for a condition in tests: the condition itself decides, never a fixed sleep. */
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Calls `probe` every `pollMs` until it returns something other than undefined, and returns that; after `timeoutMs`
 * it fails with "timed out waiting for <what>".
 */
export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
  pollMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(pollMs);
  }
}

/** `until` for a yes/no condition. */
export async function untilTrue(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  pollMs = 100,
): Promise<void> {
  await until(what, async () => ((await check()) ? true : undefined), timeoutMs, pollMs);
}
