/**
 * The launcher of the `torch` backend: the native PyTorch Flow-GRPO trainer (trainers/torch, package
 * `realgen_torch`), run by the project's torch venv (`scripts/install-python.sh`).
 *
 * The venv lives in `$REALGEN_TOOLS_DIR/torch-venv` (default `<repo>/.tools/torch-venv`), like Temporal and MinIO.
 * PYTHONPATH puts this checkout's `trainers/torch` first, so the trainer code always matches the worker's code even
 * when the venv's editable install points at another checkout of the repo.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { realgenFailure } from '../../contracts/failures';
import type { LaunchCommand, TrainerLauncher } from './trainer-launchers';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** This checkout's Python package folder (holds `realgen_torch/`). */
export const TORCH_PACKAGE_DIR = path.join(REPO_ROOT, 'trainers', 'torch');

/** The venv's python: `$REALGEN_TOOLS_DIR/torch-venv/bin/python`, read when called (not at import). */
export function torchVenvPython(env: NodeJS.ProcessEnv = process.env): string {
  const tools = env.REALGEN_TOOLS_DIR ?? path.join(REPO_ROOT, '.tools');
  return path.join(tools, 'torch-venv', 'bin', 'python');
}

/** The command line for a job spec, whether or not the venv exists (`realgen run --dry-run` shows it). */
export function torchLaunchCommand(jobSpecFile: string, env: NodeJS.ProcessEnv = process.env): LaunchCommand {
  const inherited = env.PYTHONPATH;
  return {
    command: torchVenvPython(env),
    args: ['-m', 'realgen_torch.train', '--job', jobSpecFile],
    env: {
      PYTHONPATH: inherited ? `${TORCH_PACKAGE_DIR}${path.delimiter}${inherited}` : TORCH_PACKAGE_DIR,
      PYTHONUNBUFFERED: '1',
    },
  };
}

/**
 * `<venv python> -m realgen_torch.train --job <file>`. A worker without the venv fails the attempt with
 * ConfigInvalid (not retried: another attempt on this worker cannot succeed) saying how to install it.
 */
export const torchLauncher: TrainerLauncher = (trainer, jobSpecFile) => {
  if (trainer.backend !== 'torch') {
    throw new Error(`trainer backend "${trainer.backend}" is not torch`);
  }
  const launch = torchLaunchCommand(jobSpecFile);
  if (!existsSync(launch.command)) {
    throw realgenFailure(
      'ConfigInvalid',
      `backend torch: the trainer's venv is missing on this worker (${launch.command} not found); run scripts/install-python.sh ` +
        '(it installs into $REALGEN_TOOLS_DIR/torch-venv, default <repo>/.tools/torch-venv)',
    );
  }
  return launch;
};
