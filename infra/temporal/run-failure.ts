/**
 * Why a closed workflow failed, in the operator's words: the innermost cause of the failure chain (a stage's
 * activity failure inside a child workflow failure inside the run's), with its failure type, e.g.
 * `ConfigInvalid: models.generator … cannot be loaded: … File doesn't exist`.
 */
import type { WorkflowHandle } from '@temporalio/client';

export interface RunFailure {
  /** The failure type of the innermost cause that has one (`ConfigInvalid`, `TrainerCrashed`, …), or null. */
  type: string | null;
  message: string;
}

/** The innermost cause of an error chain (`.cause` links), with the innermost failure type on the way. */
export function innermostFailure(err: unknown): RunFailure {
  let type: string | null = null;
  let message = err instanceof Error ? err.message : String(err);
  for (
    let e: unknown = err, depth = 0;
    e !== undefined && e !== null && depth < 20;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const t = (e as { type?: unknown }).type;
    if (typeof t === 'string' && t !== '') type = t;
    if (e instanceof Error && e.message !== '') message = e.message;
  }
  return { type, message };
}

/** The failure of a closed workflow, or null when it did not fail (completed, still running, cancelled, terminated). */
export async function runFailure(handle: WorkflowHandle, status: string): Promise<RunFailure | null> {
  if (status !== 'FAILED' && status !== 'TIMED_OUT') return null;
  return await handle.result().then(
    () => null,
    (err: unknown) => innermostFailure(err),
  );
}
