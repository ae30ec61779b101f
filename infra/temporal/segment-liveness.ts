/**
 * Is the worker running a stage's trainer segment still alive? Read from the stage workflow's pending activity
 * (describe), so a killed worker shows up at once instead of as a frozen progress bar until its retry starts.
 */
import type { WorkflowHandle } from '@temporalio/client';

/** The running segment as Temporal sees it. */
export interface SegmentLiveness {
  /** Attempt of the segment activity (1 for the first). */
  attempt: number;
  /** `started`: a worker holds it; `scheduled`: waiting for a worker (or for its retry); `cancel-requested`. */
  state: 'scheduled' | 'started' | 'cancel-requested' | 'unknown';
  /** Seconds since the last heartbeat reached Temporal; null before the first one. */
  lastHeartbeatAgeSeconds: number | null;
  /** The worker that held the attempt stopped heartbeating: Temporal will (or did) retry it on another worker. */
  workerLost: boolean;
  /** Why the previous attempt ended, when one did. */
  lastFailure: string | null;
}

const STATES: Record<number, SegmentLiveness['state']> = { 1: 'scheduled', 2: 'started', 3: 'cancel-requested' };

function msOf(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number | null {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return null;
  return Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/**
 * The liveness of the stage's running `runTrainerSegment`, or null when none is pending. A heartbeat older than
 * `heartbeatTimeoutSeconds` (StageProgress.heartbeatTimeoutSeconds) on a started attempt, or a retry waiting after a
 * heartbeat timeout, means the worker was lost.
 */
export async function segmentLiveness(
  stage: WorkflowHandle,
  heartbeatTimeoutSeconds: number,
  now = Date.now(),
): Promise<SegmentLiveness | null> {
  const desc = await stage.describe();
  const pending = desc.raw.pendingActivities?.find((a) => a.activityType?.name === 'runTrainerSegment');
  if (!pending) return null;
  const state = STATES[Number(pending.state ?? 0)] ?? 'unknown';
  const beat = msOf(pending.lastHeartbeatTime) ?? msOf(pending.lastStartedTime);
  const age = beat === null ? null : Math.max(0, Math.round((now - beat) / 1000));
  const lastFailure = pending.lastFailure?.message ?? null;
  const timedOut = pending.lastFailure?.timeoutFailureInfo !== undefined && pending.lastFailure?.timeoutFailureInfo !== null;
  const workerLost =
    (state === 'started' && age !== null && age > heartbeatTimeoutSeconds) || (state === 'scheduled' && timedOut);
  return { attempt: pending.attempt ?? 1, state, lastHeartbeatAgeSeconds: age, workerLost, lastFailure };
}

/** One line for `realgen status`: `heartbeat 2s ago` or `worker lost, waiting for retry (last heartbeat 41s ago)`. */
export function describeLiveness(l: SegmentLiveness): string {
  const age = l.lastHeartbeatAgeSeconds === null ? 'no heartbeat yet' : `last heartbeat ${l.lastHeartbeatAgeSeconds}s ago`;
  if (l.workerLost) return `worker lost, waiting for retry (${age}, attempt ${l.attempt})`;
  if (l.state === 'scheduled')
    return `waiting for a GPU worker (attempt ${l.attempt}${l.lastFailure ? `, last failure: ${l.lastFailure}` : ''})`;
  return l.lastHeartbeatAgeSeconds === null
    ? age
    : `heartbeat ${l.lastHeartbeatAgeSeconds}s ago${l.attempt > 1 ? ` (attempt ${l.attempt})` : ''}`;
}
