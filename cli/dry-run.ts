/**
 * `realgen run --dry-run`: the command lines each GPU worker would launch for each enabled stage, rendered from
 * the config alone (no server is contacted; values only known at run time are shown as `<...>`). External stages
 * are rendered by the same code the external adapter runs (trainers/external/launch-template.ts), for a fresh
 * start and for a resume.
 */
import path from 'node:path';
import type { LoadedConfig } from '../configs/load';
import type { StageConfig, TorchTrainerConfig } from '../configs/schema';
import { externalLauncher } from '../activities/training/external-launcher';
import { builtinLauncher } from '../activities/training/trainer-launchers';
import { torchLaunchCommand } from '../activities/training/torch-launcher';
import {
  renderLaunch,
  slotProblem,
  upstreamMaxSteps,
  validateTemplate,
  type ExternalTrainerConfig,
} from '../trainers/external/launch-template';
import { stageKey } from '../contracts/ids';

/** Quotes an argument for display in a POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Like shellQuote, but leaves the `<run-time value>` markers of a dry run readable. */
function displayQuote(arg: string): string {
  return /^([A-Za-z0-9_./:=,@%+-]|<[A-Za-z-]+>)+$/.test(arg) ? arg : shellQuote(arg);
}

/** Problems of an external stage's launch template (unknown placeholders, bad regexes, slot too small). */
export function externalStageProblems(stage: StageConfig, slot: readonly number[]): string[] {
  if (stage.trainer.backend !== 'external') return [];
  const where = `stages[${stage.stage - 1}].trainer`;
  const problems = validateTemplate(stage.trainer, where);
  const s = slotProblem(stage.trainer, slot);
  if (s) problems.push(`${where}: ${s}`);
  return problems;
}

function externalLines(
  loaded: LoadedConfig,
  stage: StageConfig & { trainer: ExternalTrainerConfig },
  slot: readonly number[],
  attemptDir: string,
): string[] {
  const trainer = stage.trainer;
  const segment = Math.min(stage.budget.segmentSteps, stage.budget.maxSteps);
  const values = {
    gpus: slot.join(','),
    numProcesses: String(trainer.numProcesses),
    outputDir: path.join(attemptDir, 'out', 'upstream'),
    port: '<free-port>',
  };
  const line = (resumePath: string | null, maxSteps: number) => {
    const r = renderLaunch(
      trainer,
      { ...values, resumePath, maxSteps: String(maxSteps) },
      loaded.baseDir,
      `stages[${stage.stage - 1}].trainer`,
    );
    // Secret entries show where the value comes from, never the value.
    const secrets = Object.entries(r.secretEnv).map(
      ([k, ref]) => `${k}=${ref.env !== undefined ? `<secret-from-env-${ref.env}>` : '<secret-from-file>'}`,
    );
    const env = [
      `CUDA_VISIBLE_DEVICES=${slot.join(',')}`,
      ...Object.entries(r.env).map(([k, v]) => `${k}=${displayQuote(v)}`),
      ...secrets,
      // The adapter exports it on a resume (trainers/external/upstream/realgen_config.py reads it).
      ...(resumePath !== null ? [`REALGEN_RESUME_DIR=${displayQuote(resumePath)}`] : []),
    ];
    return `${r.cwd ? `cd ${displayQuote(r.cwd)} && ` : ''}${env.join(' ')} ${[r.command, ...r.args].map(displayQuote).join(' ')}`;
  };
  const adapter = externalLauncher(trainer, path.join(attemptDir, 'job.json'));
  const completeness =
    trainer.completeMarker !== undefined
      ? `complete when ${trainer.completeMarker} exists`
      : `complete after ${trainer.quietPeriodSeconds} s without change`;
  return [
    `# ${stageKey(stage.stage)} (external trainer, ${stage.budget.maxSteps} steps in segments of ${stage.budget.segmentSteps}; our step = upstream step / ${trainer.stepsPerEpoch})`,
    `#   adapter: ${[adapter.command, ...adapter.args].map(displayQuote).join(' ')}`,
    `#   checkpoints: <outputDir>/${trainer.checkpointGlob}, ${completeness}; {port} is a free port picked at launch`,
    `#   fresh start (segment 0):`,
    line(null, upstreamMaxSteps(trainer, 0, segment)),
    ...(trainer.resumeArg !== undefined
      ? [
          `#   resume (later segments and retries, from the latest committed checkpoint):`,
          line(path.join(attemptDir, 'resume'), upstreamMaxSteps(trainer, segment, Math.min(2 * segment, stage.budget.maxSteps))),
        ]
      : [`#   resume: not possible (no resumeArg): a retry would start from scratch`]),
  ];
}

/** What a torch stage's generator is, for the header line. */
function torchModel(trainer: TorchTrainerConfig): string {
  if (trainer.family !== 'flux') return 'realgen-mini UNet';
  return trainer.tiny ? 'tiny random FLUX' : `FLUX from ${trainer.pretrained ?? '<pretrained>'}`;
}

/** The diffusion LoRA's batch arithmetic of a stage-2/3 step (GRPO over the samples, SDE window per sample). */
function diffusionArithmetic(trainer: TorchTrainerConfig, g: StageConfig['grpo']): string {
  const ranks = trainer.numProcesses;
  const perRank = (g.promptsPerEpoch * g.groupSize) / ranks;
  const accum = g.gradientAccumulationSteps ?? 1;
  return (
    `${ranks} rank(s)${ranks > 1 ? ' via torch.distributed.run' : ''}; ` +
    `per step ${g.promptsPerEpoch} prompts × ${g.groupSize} = ${g.promptsPerEpoch * g.groupSize} samples, ` +
    `${perRank} per rank in micro-batches of ${g.batchSize}, ${accum} micro-batch(es) per optimizer step ` +
    `(${g.batchSize * accum * ranks} samples per optimizer step, ` +
    `${perRank / (g.batchSize * accum)} optimizer step(s) per step per inner epoch)`
  );
}

/**
 * The torch trainer's launch line (the same for a fresh start and a resume: the job spec carries resumeDir). Stage 1
 * trains the prompt-optimizer LM over a frozen generator, stage 2 the diffusion LoRA, stage 3 both (realgen_torch
 * train.py dispatches on the job's stage); the LM's defaults are the trainer's (lm_settings.py), shown as such.
 */
function torchLines(trainer: TorchTrainerConfig, stage: StageConfig, slot: readonly number[], jobSpec: string): string[] {
  const launch = torchLaunchCommand(jobSpec);
  const env = [
    `CUDA_VISIBLE_DEVICES=${slot.join(',')}`,
    `REALGEN_JOB_SPEC=${jobSpec}`,
    ...Object.entries(launch.env ?? {}).map(([k, v]) => `${k}=${displayQuote(v)}`),
  ];
  const g = stage.grpo;
  const budget = `${stage.budget.maxSteps} steps in segments of ${stage.budget.segmentSteps}`;
  const lm = trainer.lm?.pretrained ?? '<lm.pretrained>';
  /** The LM half: its micro-batch, LoRA and one optimizer step per inner epoch (stage1.py, joint.py). */
  const lmArithmetic = (o: { batchSize?: number; innerEpochs?: number; lora?: { rank?: number } }) =>
    `LM micro-batches of ${o.batchSize ?? '4 (default)'} rewrites, LoRA rank ${o.lora?.rank ?? '16 (default)'}, ` +
    `${o.innerEpochs ?? 1} optimizer step(s) per step (one per inner epoch)`;
  let header: string[];
  if (stage.stage === 1) {
    header = [
      `# ${stageKey(stage.stage)} (torch trainer realgen_torch, prompt optimizer: LM from ${lm}; ` +
        `frozen ${trainer.family}: ${torchModel(trainer)}; ${budget})`,
      `#   1 rank; per step ${g.promptsPerEpoch} prompts × ${g.groupSize} rewrites = ${g.promptsPerEpoch * g.groupSize}, each rendered ` +
        `with ${g.samplingSteps} ODE steps (one initial noise per prompt) and scored; ${lmArithmetic(g)}`,
    ];
  } else if (stage.stage === 3) {
    header = [
      `# ${stageKey(stage.stage)} (torch trainer realgen_torch, joint: LM from ${lm} and ${trainer.family}: ${torchModel(trainer)}; ${budget})`,
      `#   diffusion: ${diffusionArithmetic(trainer, g)}`,
      `#   LM: the same ${g.promptsPerEpoch * g.groupSize} rewrites; ${lmArithmetic(stage.lmGrpo ?? {})}`,
    ];
  } else {
    header = [
      `# ${stageKey(stage.stage)} (torch trainer realgen_torch, ${trainer.family}: ${torchModel(trainer)}; ${budget})`,
      `#   ${diffusionArithmetic(trainer, g)}`,
    ];
  }
  return [
    ...header,
    `#   fresh start and resume (full state from the job spec's resumeDir):`,
    `${env.join(' ')} ${[launch.command, ...launch.args].map(displayQuote).join(' ')}`,
  ];
}

export function describeLaunches(loaded: LoadedConfig, runId: string): string[] {
  const { config } = loaded;
  const gpu = config.workers.gpu;
  const slots =
    gpu.gpuIds.length === 0
      ? Array.from({ length: gpu.cpuSlots }, () => [] as number[])
      : Array.from({ length: Math.floor(gpu.gpuIds.length / gpu.gpusPerTrainer) }, (_, i) =>
          gpu.gpuIds.slice(i * gpu.gpusPerTrainer, (i + 1) * gpu.gpusPerTrainer),
        );
  const lines: string[] = [
    `# run ${runId}: ${config.name}, GPU worker slots: ${slots.map((s) => (s.length ? s.join(',') : 'cpu')).join(' | ')}`,
  ];
  const problems: string[] = [];
  for (const stage of config.stages) {
    if (!stage.enabled) {
      lines.push(`# ${stageKey(stage.stage)}: disabled`);
      continue;
    }
    const slot = slots[0] ?? [];
    const attemptDir = path.join('<workDir>', runId, stageKey(stage.stage), 'segment-<n>-attempt-<k>');
    const jobSpec = path.join(attemptDir, 'job.json');
    if (stage.trainer.backend === 'builtin') {
      const env = `CUDA_VISIBLE_DEVICES=${slot.join(',')} REALGEN_JOB_SPEC=${jobSpec}`;
      const launch = builtinLauncher(stage.trainer, jobSpec);
      lines.push(
        `# ${stageKey(stage.stage)} (builtin realgen-mini trainer, ${stage.budget.maxSteps} steps in segments of ${stage.budget.segmentSteps})`,
      );
      lines.push(`${env} ${[launch.command, ...launch.args].map(displayQuote).join(' ')}`);
      continue;
    }
    if (stage.trainer.backend === 'torch') {
      lines.push(...torchLines(stage.trainer, stage, slot, jobSpec));
      continue;
    }
    const found = externalStageProblems(stage, slot);
    if (found.length > 0) {
      problems.push(...found);
      continue;
    }
    lines.push(...externalLines(loaded, stage as StageConfig & { trainer: ExternalTrainerConfig }, slot, attemptDir));
  }
  if (problems.length > 0)
    throw new Error(`${loaded.file}: cannot render the launch commands:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return lines;
}
