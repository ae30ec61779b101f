/**
 * Business ids, built in one place. Temporal rejects a second workflow with a running id, which is our dedupe:
 * one pipeline per run, one stage workflow per run and stage, one evaluation per checkpoint and suite.
 */

/** `run/<runId>`: the pipeline of one training run. */
export function runWorkflowId(runId: string): string {
  return `run/${runId}`;
}

/** `run/<runId>/stage/<n>`: one training stage of a run. */
export function stageWorkflowId(runId: string, stage: number): string {
  return `run/${runId}/stage/${stage}`;
}

/** `eval/<checkpoint sha>/<suite>`: the RealBench evaluation of one checkpoint. */
export function evalWorkflowId(checkpointSha256: string, suite: string): string {
  return `eval/${checkpointSha256}/${suite}`;
}

/** `smoke/<runId>`: the storage smoke test. */
export function smokeWorkflowId(runId: string): string {
  return `smoke/${runId}`;
}

/** Stage folder name inside `runs/<runId>/` for stage n. */
export function stageKey(stage: number): string {
  return `stage-${stage}`;
}

/** Run ids are object-key segments and workflow-id parts: letters, digits, '.', '_' and '-'. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Throws when `runId` is not a valid run id. */
export function assertRunId(runId: string): string {
  if (!RUN_ID_PATTERN.test(runId)) {
    throw new Error(`run id ${JSON.stringify(runId)} is invalid: expected 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit`);
  }
  return runId;
}

/** `watch/<runId>/<stage>`: the evaluation watcher of an outside trainer's checkpoints. */
export function watchWorkflowId(runId: string, stage: string): string {
  return `watch/${runId}/${stage}`;
}
