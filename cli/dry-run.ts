/**
 * `realgen run --dry-run`: the command lines each GPU worker would launch for each enabled stage, rendered from
 * the config alone (no server is contacted; placeholders for values only known at run time are shown as such).
 */
import path from 'node:path';
import type { LoadedConfig } from '../configs/load';
import { builtinLauncher } from '../activities/training/trainer-launchers';
import { stageKey } from '../workflows/ids';

/** Quotes an argument for display in a POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function describeLaunches(loaded: LoadedConfig, runId: string): string[] {
  const { config } = loaded;
  const gpu = config.workers.gpu;
  const slots = gpu.gpuIds.length === 0 ? Array.from({ length: gpu.cpuSlots }, () => [] as number[]) : Array.from({ length: Math.floor(gpu.gpuIds.length / gpu.gpusPerTrainer) }, (_, i) => gpu.gpuIds.slice(i * gpu.gpusPerTrainer, (i + 1) * gpu.gpusPerTrainer));
  const lines: string[] = [`# run ${runId}: ${config.name}, GPU worker slots: ${slots.map((s) => (s.length ? s.join(',') : 'cpu')).join(' | ')}`];
  for (const stage of config.stages) {
    if (!stage.enabled) {
      lines.push(`# ${stageKey(stage.stage)}: disabled`);
      continue;
    }
    const jobSpec = path.join('<workDir>', runId, stageKey(stage.stage), 'segment-<n>-attempt-<k>', 'job.json');
    const env = `CUDA_VISIBLE_DEVICES=${(slots[0] ?? []).join(',')} REALGEN_JOB_SPEC=${jobSpec}`;
    if (stage.trainer.backend === 'builtin') {
      const launch = builtinLauncher(stage.trainer, jobSpec);
      lines.push(`# ${stageKey(stage.stage)} (builtin realgen-mini trainer, ${stage.budget.maxSteps} steps in segments of ${stage.budget.segmentSteps})`);
      lines.push(`${env} ${[launch.command, ...launch.args].map(shellQuote).join(' ')}`);
    } else {
      lines.push(`# ${stageKey(stage.stage)} (external trainer: see docs/deploy.md; rendered by the external adapter)`);
      lines.push(`${env} ${[stage.trainer.command, ...stage.trainer.args].map(shellQuote).join(' ')}`);
    }
  }
  return lines;
}
