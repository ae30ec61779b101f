/**
 * Launchers for the `external` backend and the per-backend default a GPU worker uses.
 *
 * The external adapter (trainers/external/main.ts) is itself a protocol-following trainer: it renders the stage's
 * launch template, runs the upstream command (accelerate/torchrun/python) and translates its checkpoints and log
 * lines into protocol events, so the supervisor treats every backend the same way.
 */
import path from 'node:path';
import { torchLauncher } from './torch-launcher';
import { builtinLauncher, type TrainerLauncher } from './trainer-launchers';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const EXTERNAL_ADAPTER = path.join(REPO_ROOT, 'trainers', 'external', 'main.ts');

/** The external adapter, run by this Node with the tsx loader (no build step). */
export const externalLauncher: TrainerLauncher = (trainer, jobSpecFile) => {
  if (trainer.backend !== 'external') {
    throw new Error(`trainer backend "${trainer.backend}" is not external`);
  }
  return {
    command: process.execPath,
    args: ['--import', path.join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs'), EXTERNAL_ADAPTER, '--job', jobSpecFile],
  };
};

/** Picks the launcher by the stage's backend: builtin (realgen-mini), external (the adapter) or torch (realgen_torch). */
export const defaultLauncher: TrainerLauncher = (trainer, jobSpecFile) =>
  trainer.backend === 'external'
    ? externalLauncher(trainer, jobSpecFile)
    : trainer.backend === 'torch'
      ? torchLauncher(trainer, jobSpecFile)
      : builtinLauncher(trainer, jobSpecFile);
