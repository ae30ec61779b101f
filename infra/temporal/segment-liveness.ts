/**
 * Is the worker running a stage's trainer segment still alive? Read from the stage workflow's pending activity
 * (describe), so a killed worker shows up at once instead of as a frozen progress bar until its retry starts.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { SegmentHeartbeat } from '../../contracts/trainer-segment';

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
  /** Why the previous attempt ended, when one did (kept while the retry waits and while it runs). */
  lastFailure: SegmentFailure | null;
  /** Seconds until the waiting retry starts (null unless a retry is scheduled after a failure). */
  nextAttemptInSeconds: number | null;
  /** What the segment's last heartbeat said (step, newest reward); null before the first or when unreadable. */
  heartbeat: Partial<SegmentHeartbeat> | null;
}

/** The details of the last heartbeat (the supervisor sends one `SegmentHeartbeat`), best effort. */
function heartbeatOf(details: { payloads?: Payload[] | null } | null | undefined): Partial<SegmentHeartbeat> | null {
  const payload = details?.payloads?.[0];
  if (!payload) return null;
  try {
    const value: unknown = defaultPayloadConverter.fromPayload(payload);
    return typeof value === 'object' && value !== null ? (value as Partial<SegmentHeartbeat>) : null;
  } catch {
    return null;
  }
}

/** The failure of an earlier attempt of the running segment, as describe() reports it. */
export interface SegmentFailure {
  /** The attempt that failed. */
  attempt: number;
  /** The failure type: a closed-vocabulary type (contracts/failures.ts) such as `TrainerCrashed`, or `Timeout:HEARTBEAT`. */
  type: string;
  message: string;
}

const TIMEOUT_TYPES: Record<number, string> = {
  1: 'START_TO_CLOSE',
  2: 'SCHEDULE_TO_START',
  3: 'SCHEDULE_TO_CLOSE',
  4: 'HEARTBEAT',
};

interface RawFailure {
  message?: string | null;
  applicationFailureInfo?: { type?: string | null } | null;
  timeoutFailureInfo?: { timeoutType?: number | null } | null;
  cause?: RawFailure | null;
}

/** The type of a raw failure: the application type, `Timeout:<kind>` for timeouts, else the first typed cause. */
function failureType(f: RawFailure): string {
  if (f.applicationFailureInfo?.type) return f.applicationFailureInfo.type;
  if (f.timeoutFailureInfo) return `Timeout:${TIMEOUT_TYPES[Number(f.timeoutFailureInfo.timeoutType ?? 0)] ?? 'UNKNOWN'}`;
  return f.cause ? failureType(f.cause) : 'Failure';
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
  const attempt = pending.attempt ?? 1;
  const raw = pending.lastFailure as RawFailure | null | undefined;
  // The pending activity carries the attempt that runs (or waits) now; the failure is that of the one before.
  const lastFailure = raw ? { attempt: Math.max(1, attempt - 1), type: failureType(raw), message: raw.message ?? '' } : null;
  const timedOut = raw?.timeoutFailureInfo !== undefined && raw?.timeoutFailureInfo !== null;
  const workerLost =
    (state === 'started' && age !== null && age > heartbeatTimeoutSeconds) || (state === 'scheduled' && timedOut);
  const next = state === 'scheduled' && raw ? msOf(pending.nextAttemptScheduleTime) : null;
  const nextAttemptInSeconds = next === null ? null : Math.max(0, Math.round((next - now) / 1000));
  const heartbeat = heartbeatOf(pending.heartbeatDetails as { payloads?: Payload[] | null } | null | undefined);
  return { attempt, state, lastHeartbeatAgeSeconds: age, workerLost, lastFailure, nextAttemptInSeconds, heartbeat };
}

/** One line for `realgen status`: `heartbeat 2s ago` or `worker lost, waiting for retry (last heartbeat 41s ago)`. */
export function describeLiveness(l: SegmentLiveness): string {
  const age = l.lastHeartbeatAgeSeconds === null ? 'no heartbeat yet' : `last heartbeat ${l.lastHeartbeatAgeSeconds}s ago`;
  if (l.workerLost) return `worker lost, waiting for retry (${age}, attempt ${l.attempt})`;
  if (l.state === 'scheduled' && l.lastFailure) {
    const when =
      l.nextAttemptInSeconds === null ? '' : l.nextAttemptInSeconds > 0 ? ` in ${l.nextAttemptInSeconds}s` : ', due now';
    return `retry waiting: attempt ${l.attempt}${when}`;
  }
  if (l.state === 'scheduled') return `waiting for a GPU worker (attempt ${l.attempt})`;
  return l.lastHeartbeatAgeSeconds === null
    ? age
    : `heartbeat ${l.lastHeartbeatAgeSeconds}s ago${l.attempt > 1 ? ` (attempt ${l.attempt})` : ''}`;
}

/** Longest failure message `status` prints (a crash message carries a stderr tail). */
const FAILURE_MESSAGE_CHARS = 300;

/**
 * One line for `realgen status` about the last failure of the running segment, or null when no attempt failed:
 * `last failure (attempt 1): TrainerCrashed: trainer exited with code 3 before reporting done`.
 */
export function describeLastFailure(l: SegmentLiveness): string | null {
  const f = l.lastFailure;
  if (!f) return null;
  const oneLine = f.message.replace(/\s+/g, ' ').trim();
  const message = oneLine.length > FAILURE_MESSAGE_CHARS ? `${oneLine.slice(0, FAILURE_MESSAGE_CHARS)}…` : oneLine;
  return `last failure (attempt ${f.attempt}): ${f.type}${message ? `: ${message}` : ''}`;
}
