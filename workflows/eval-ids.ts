/**
 * Business ids and object-key roots of RealBench evaluations (the checkpoint form lives in ids.ts).
 *
 * An evaluation's id is `eval/<subject>/<suite>` and its evaluation key is `<subject>/<suite>`: every object it
 * writes lives under `evals/<evalKey>/`. One id per subject and suite is the dedupe: Temporal refuses a second
 * running workflow with the same id, and clients join the running one instead.
 * No Node built-ins here: workflow code imports this module.
 */
import { evalWorkflowId } from './ids';

/** Names of image folders, commands and leaderboard rows: one key segment, letters, digits, '.', '_', '-'. */
export const EVAL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Throws when `name` is not a valid evaluation name. */
export function assertEvalName(name: string): string {
  if (!EVAL_NAME_PATTERN.test(name)) {
    throw new Error(`evaluation name ${JSON.stringify(name)} is invalid: expected 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit`);
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
