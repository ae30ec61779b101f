/**
 * The closed vocabulary of failures this project raises across the activity → workflow boundary.
 *
 * Custom error subclasses do not survive that boundary (workflow code runs in another V8 context and sees
 * `ApplicationFailure`s), so a failure is identified by its `type` string. Workflows switch on these names.
 * This module imports nothing from Node so that workflow code may use it.
 */
import { ApplicationFailure } from '@temporalio/common';

/** Every failure type name, with whether a retry of the same attempt can help. */
export const FAILURE_RETRYABLE = {
  /** The run config or a job spec is invalid; retrying changes nothing. */
  ConfigInvalid: false,
  /** A committed checkpoint's objects do not match its manifest. */
  CheckpointCorrupt: false,
  /** No (valid) checkpoint exists where one was required. */
  CheckpointNotFound: false,
  /** A different checkpoint is already committed at the same run/stage/step. */
  CheckpointConflict: false,
  /** An object key or a file path inside a checkpoint is unsafe or malformed. */
  InvalidObjectKey: false,
  /** A required input data set (RealBench, prompts) is missing or malformed. */
  DatasetMissing: false,
  /** An evaluation this workflow waited for ended without a result. */
  EvaluationFailed: false,
  /** The accelerator ran out of memory for this configuration. */
  OutOfMemory: false,
  /** The object store could not be reached or answered with a server error. */
  StorageUnavailable: true,
  /** The trainer process exited abnormally (crash, signal). */
  TrainerCrashed: true,
  /** The trainer stopped reporting progress within the stall timeout. */
  TrainerStalled: true,
  /** The worker or node that held the attempt went away. */
  NodeLost: true,
} as const satisfies Record<string, boolean>;

/** A failure type name from the closed list. */
export type FailureType = keyof typeof FAILURE_RETRYABLE;

/** All failure type names, in declaration order. */
export const FAILURE_TYPES = Object.keys(FAILURE_RETRYABLE) as FailureType[];

/** True when `type` names one of our failure types. */
export function isFailureType(type: unknown): type is FailureType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(FAILURE_RETRYABLE, type);
}

/**
 * Builds the `ApplicationFailure` for a failure type, with the retry flag that type always carries.
 * `details` must be plain JSON and must never contain secrets: it is stored in workflow history.
 */
export function realgenFailure(type: FailureType, message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: !FAILURE_RETRYABLE[type],
    details: details === undefined ? undefined : [details],
  });
}
