/** How a GPU worker starts each trainer backend: the command line for a job spec. */
import path from 'node:path';
import type { StageConfig } from '../../configs/schema';

export interface LaunchCommand {
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

/** Resolves the process to start for a stage's trainer backend, given the job spec path. */
export type TrainerLauncher = (trainer: StageConfig['trainer'], jobSpecFile: string) => LaunchCommand;

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The built-in realgen-mini trainer, run by this Node with the tsx loader (no build step). */
export const builtinLauncher: TrainerLauncher = (trainer, jobSpecFile) => {
  if (trainer.backend !== 'builtin') {
    throw new Error(`trainer backend "${trainer.backend}" has no launcher on this worker`);
  }
  return {
    command: process.execPath,
    args: [
      '--import',
      path.join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs'),
      path.join(REPO_ROOT, 'trainers', 'builtin', 'main.ts'),
      '--job',
      jobSpecFile,
    ],
  };
};
