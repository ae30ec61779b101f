/**
 * Waiting on a generator's process group inside an activity: cancellation stops the whole group (SIGTERM, SIGKILL
 * after `graceMs`), a heartbeat goes out every 5 s while it runs (model loading can print nothing for a long time),
 * and whatever the group leaves running after its leader exits is reaped. Shared by the external-command and
 * torch-checkpoint generators.
 */
import type { ProcessGroup } from '../../../infra/process/process-group';
import { cancellation, throwIfCancelled } from '../../cancellation';
import { heartbeat } from '../../heartbeat';

/** Heartbeat period while the group runs, ms. */
const BEAT_MS = 5000;

/**
 * Waits until `group` and everything holding its output are done; returns the exit code. Throws the cancellation
 * when the activity was cancelled. `details(seconds)` is the heartbeat payload after `seconds` of running.
 */
export async function awaitGroup(
  group: ProcessGroup,
  graceMs: number,
  details: (seconds: number) => Record<string, unknown>,
): Promise<number | null> {
  const signal = cancellation();
  const stop = () => void group.stop(graceMs);
  signal?.addEventListener('abort', stop, { once: true });
  const started = Date.now();
  const beat = setInterval(() => heartbeat(details(Math.round((Date.now() - started) / 1000))), BEAT_MS);
  try {
    const { code } = await group.closed;
    await group.reap();
    throwIfCancelled();
    return code;
  } finally {
    clearInterval(beat);
    signal?.removeEventListener('abort', stop);
  }
}
