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
    throw new Error(
      `run id ${JSON.stringify(runId)} is invalid: expected 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
  return runId;
}

/** `watch/<runId>/<stage>`: the evaluation watcher of an outside trainer's checkpoints. */
export function watchWorkflowId(runId: string, stage: string): string {
  return `watch/${runId}/${stage}`;
}

// --- Evaluations of other subjects. An evaluation's id is `eval/<subject>/<suite>`, its key `<subject>/<suite>`;
// every object it writes lives under `evals/<evalKey>/`.

/** Names of image folders, commands and leaderboard rows: one key segment, letters, digits, '.', '_', '-'. */
export const EVAL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Throws when `name` is not a valid evaluation name. */
export function assertEvalName(name: string): string {
  if (!EVAL_NAME_PATTERN.test(name)) {
    throw new Error(
      `evaluation name ${JSON.stringify(name)} is invalid: expected 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
  return name;
}

/** `eval/images-<name>/<suite>`: the evaluation of an uploaded folder of images. */
export function evalImagesWorkflowId(name: string, suite: string): string {
  return `eval/images-${assertEvalName(name)}/${suite}`;
}

/** `eval/command-<name>/<suite>`: the evaluation of an external generator command. */
export function evalCommandWorkflowId(name: string, suite: string): string {
  return `eval/command-${assertEvalName(name)}/${suite}`;
}

/** `eval/base-<generator digest>/<suite>`: the base realgen-mini generator (no checkpoint). */
export function evalBaseWorkflowId(generatorDigest: string, suite: string): string {
  return evalWorkflowId(`base-${generatorDigest.slice(0, 16)}`, suite);
}

/** The evaluation key of an evaluation workflow id: the id without its `eval/` prefix. */
export function evalKeyOfWorkflowId(workflowId: string): string {
  if (!workflowId.startsWith('eval/') || workflowId.split('/').length !== 3) {
    throw new Error(`${JSON.stringify(workflowId)} is not an evaluation workflow id (eval/<subject>/<suite>)`);
  }
  return workflowId.slice('eval/'.length);
}

/** The workflow id of an evaluation key. */
export function workflowIdOfEvalKey(evalKey: string): string {
  return `eval/${evalKey}`;
}

/** An evaluation key as one file-name-safe segment (`<subject>__<suite>`), for leaderboard entries. */
export function safeEvalName(evalKey: string): string {
  return evalKey.replace(/[^A-Za-z0-9._-]/g, '__');
}

/** `notify/<event>/<subject>`: the delivery of one event (subject: a run id, `<run>/stage-<n>`, an evaluation key). */
export function notificationWorkflowId(event: string, subject: string): string {
  return `notify/${event}/${subject}`;
}

/** `schedule/eval/<runId>/<stage key or all>`: the schedule that evaluates a run's newest checkpoint. */
export function evalScheduleId(runId: string, stage: number | undefined): string {
  return `schedule/eval/${assertRunId(runId)}/${stage === undefined ? 'all' : stageKey(stage)}`;
}

/** `scheduled-eval/<runId>/<stage key or all>`: the workflow id prefix each tick of that schedule starts. */
export function scheduledEvalWorkflowId(runId: string, stage: number | undefined): string {
  return `scheduled-eval/${runId}/${stage === undefined ? 'all' : stageKey(stage)}`;
}
