/** The protocol fixture trainer as a launcher, for workers under test. */
import path from 'node:path';
import type { TrainerLauncher } from '../../activities/training/trainer-launchers';

const repo = path.resolve(__dirname, '..', '..');
export const FIXTURE_TRAINER = path.join(repo, 'test', 'fixtures', 'trainers', 'counter-trainer.ts');
const TSX = path.join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs');

/** Launches the fixture trainer whatever the stage's backend, with extra env knobs. */
export function fixtureLauncher(env: Record<string, string> = {}): TrainerLauncher {
  return (_trainer, jobFile) => ({ command: process.execPath, args: ['--import', TSX, FIXTURE_TRAINER, '--job', jobFile], env });
}
