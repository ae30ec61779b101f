/**
 * The launch template of an external trainer stage (config `stages[i].trainer` with `backend: external`):
 * pure rendering and validation of its placeholders. Used by the external adapter (trainers/external/main.ts)
 * and by `realgen run --dry-run`, so both show exactly the same command line.
 *
 * Placeholders, in `command`, `args`, `env` values and `workingDir`:
 *   {gpus}         the GPU ids of the slot, comma-separated (the CUDA_VISIBLE_DEVICES value; empty on CPU)
 *   {numProcesses} the stage's `numProcesses`
 *   {outputDir}    the folder the upstream trainer writes into (its save dir)
 *   {maxSteps}     upstream steps of this segment: (stopAtStep − startStep) × stepsPerEpoch
 *   {port}         a free TCP port for the rendezvous (accelerate --main_process_port, torchrun --master_port)
 *   {adapterDir}   this checkout's trainers/external/upstream (the wrappers realgen_config.py, realgen_metrics.py)
 * and, only in `resumeArg`:
 *   {resumePath}   the local folder of the resumed checkpoint (a verified copy of the latest committed one)
 * `{{` and `}}` stand for literal braces.
 */
import path from 'node:path';
import type { SecretRef, StageConfig, TrainerEnvValue } from '../../configs/schema';

export type ExternalTrainerConfig = Extract<StageConfig['trainer'], { backend: 'external' }>;

export const PLACEHOLDERS = ['gpus', 'numProcesses', 'outputDir', 'maxSteps', 'port', 'adapterDir'] as const;

/** The `{adapterDir}` value: the upstream wrappers shipped with this checkout. */
export const ADAPTER_DIR = path.join(__dirname, 'upstream');
export const RESUME_PLACEHOLDERS = [...PLACEHOLDERS, 'resumePath'] as const;
export type Placeholder = (typeof RESUME_PLACEHOLDERS)[number];

/** Values of the placeholders for one launch. `resumePath` is null on a fresh start. */
export interface TemplateValues {
  gpus: string;
  numProcesses: string;
  outputDir: string;
  maxSteps: string;
  port: string;
  resumePath: string | null;
  /** @default ADAPTER_DIR */
  adapterDir?: string;
}

export class TemplateError extends Error {}

/** The placeholder names used in one template string, in order; throws on an unclosed or stray brace. */
export function placeholdersOf(template: string, where: string): string[] {
  const names: string[] = [];
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c === '{') {
      if (template[i + 1] === '{') {
        i++;
        continue;
      }
      const end = template.indexOf('}', i + 1);
      if (end < 0)
        throw new TemplateError(`${where}: unclosed "{" in ${JSON.stringify(template)} (write {{ for a literal brace)`);
      names.push(template.slice(i + 1, end));
      i = end;
    } else if (c === '}') {
      if (template[i + 1] === '}') {
        i++;
        continue;
      }
      throw new TemplateError(`${where}: stray "}" in ${JSON.stringify(template)} (write }} for a literal brace)`);
    }
  }
  return names;
}

/** Renders one template string; every placeholder must be in `allowed` and have a value. */
export function renderString(
  template: string,
  values: TemplateValues,
  where: string,
  allowed: readonly string[] = PLACEHOLDERS,
): string {
  for (const name of placeholdersOf(template, where)) {
    if (!allowed.includes(name)) {
      const hint = name === 'resumePath' ? ' ({resumePath} is only available in resumeArg)' : '';
      throw new TemplateError(
        `${where}: unknown placeholder {${name}} in ${JSON.stringify(template)}; expected one of ${allowed.map((p) => `{${p}}`).join(' ')}${hint}`,
      );
    }
  }
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (match, name: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    const value = name === 'adapterDir' ? (values.adapterDir ?? ADAPTER_DIR) : values[name as Placeholder];
    if (value === null || value === undefined) throw new TemplateError(`${where}: placeholder {${name}} has no value here`);
    return value;
  });
}

/** Checks every template of a stage without rendering (config check, dry run): unknown placeholders, braces. */
export function validateTemplate(trainer: ExternalTrainerConfig, where = 'trainer'): string[] {
  const problems: string[] = [];
  const check = (t: string, w: string, allowed: readonly string[]) => {
    try {
      for (const name of placeholdersOf(t, w)) {
        if (!allowed.includes(name)) {
          const hint = name === 'resumePath' ? ' ({resumePath} is only available in resumeArg)' : '';
          problems.push(`${w}: unknown placeholder {${name}}; expected one of ${allowed.map((p) => `{${p}}`).join(' ')}${hint}`);
        }
      }
    } catch (err) {
      problems.push((err as Error).message);
    }
  };
  check(trainer.command, `${where}.command`, PLACEHOLDERS);
  trainer.args.forEach((a, i) => check(a, `${where}.args[${i}]`, PLACEHOLDERS));
  for (const [k, v] of Object.entries(trainer.env)) {
    const text = plainEnvValue(v);
    if (text !== null) check(text, `${where}.env.${k}`, PLACEHOLDERS);
  }
  if (trainer.workingDir !== undefined) check(trainer.workingDir, `${where}.workingDir`, PLACEHOLDERS);
  if (trainer.resumeArg !== undefined) check(trainer.resumeArg, `${where}.resumeArg`, RESUME_PLACEHOLDERS);
  for (const [i, p] of trainer.metricPatterns.entries()) {
    try {
      new RegExp(p);
    } catch (err) {
      problems.push(`${where}.metricPatterns[${i}]: invalid regular expression (${(err as Error).message})`);
    }
  }
  return problems;
}

/** The text of a non-secret env value (a plain string or `{ plain }`), or null for a secret reference. */
export function plainEnvValue(value: TrainerEnvValue): string | null {
  if (typeof value === 'string') return value;
  if ('plain' in value) return value.plain;
  return null;
}

export interface RenderedLaunch {
  command: string;
  args: string[];
  /**
   * The config's non-secret env, rendered (added on top of the adapter's own environment). Secret env entries
   * are not here: the supervisor resolves them into the adapter's environment, which the trainer inherits.
   */
  env: Record<string, string>;
  /** The secret env entries by name, as references (for display: `HF_TOKEN=<secret from env HF_TOKEN>`). */
  secretEnv: Record<string, SecretRef>;
  /** Absolute working directory (relative `workingDir` resolves against the config's folder), or undefined. */
  cwd: string | undefined;
}

/**
 * Renders the whole launch. On a resume (`values.resumePath` set) `resumeArg` is appended; a stage without a
 * `resumeArg` cannot resume (an error: it would silently restart from scratch).
 */
export function renderLaunch(
  trainer: ExternalTrainerConfig,
  values: TemplateValues,
  configBaseDir: string,
  where = 'trainer',
): RenderedLaunch {
  const problems = validateTemplate(trainer, where);
  if (problems.length > 0) throw new TemplateError(problems.join('; '));
  const args = trainer.args.map((a, i) => renderString(a, values, `${where}.args[${i}]`));
  if (values.resumePath !== null) {
    if (trainer.resumeArg === undefined) {
      throw new TemplateError(
        `${where}.resumeArg is not set, so the trainer cannot resume from a checkpoint; set it (e.g. --config.train.lora_path={resumePath}/lora)`,
      );
    }
    args.push(renderString(trainer.resumeArg, values, `${where}.resumeArg`, RESUME_PLACEHOLDERS));
  }
  const env: Record<string, string> = {};
  const secretEnv: Record<string, SecretRef> = {};
  for (const [k, v] of Object.entries(trainer.env)) {
    const text = plainEnvValue(v);
    if (text === null) secretEnv[k] = v as SecretRef;
    else env[k] = renderString(text, values, `${where}.env.${k}`);
  }
  const cwd =
    trainer.workingDir === undefined
      ? undefined
      : path.resolve(configBaseDir, renderString(trainer.workingDir, values, `${where}.workingDir`));
  return { command: renderString(trainer.command, values, `${where}.command`), args, env, secretEnv, cwd };
}

/** Upstream steps in a segment, the `{maxSteps}` value. */
export function upstreamMaxSteps(trainer: ExternalTrainerConfig, startStep: number, stopAtStep: number): number {
  return Math.max(0, stopAtStep - startStep) * trainer.stepsPerEpoch;
}

/** A problem with the slot: more processes than GPUs. */
export function slotProblem(trainer: ExternalTrainerConfig, gpuIds: readonly number[]): string | null {
  if (gpuIds.length > 0 && trainer.numProcesses > gpuIds.length) {
    return `trainer.numProcesses is ${trainer.numProcesses} but the slot has only ${gpuIds.length} GPU(s) (${gpuIds.join(',')}); set workers.gpu.gpusPerTrainer ≥ numProcesses`;
  }
  return null;
}
