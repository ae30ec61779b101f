/**
 * Resolving an external trainer's secret environment (`stages[].trainer.env.NAME: { env } | { file }`). Only the
 * supervisor activity calls this, right before it launches the trainer: the values go into the launched
 * process's environment and nowhere else (not the job spec, not a heartbeat, not a failure message).
 */
import type { StageConfig } from '../../configs/schema';
import { readSecret } from '../../configs/secrets';
import { realgenFailure } from '../../contracts/failures';

/** The secret env entries of `trainer`, resolved; a missing one is `ConfigInvalid` naming the field, never a value. */
export function resolveTrainerSecrets(
  trainer: StageConfig['trainer'],
  stage: number,
  configBaseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  if (trainer.backend !== 'external') return {};
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(trainer.env)) {
    if (typeof value === 'string' || 'plain' in value) continue;
    try {
      out[name] = readSecret(value, configBaseDir, `stages[${stage - 1}].trainer.env.${name}`, env);
    } catch (err) {
      throw realgenFailure('ConfigInvalid', (err as Error).message);
    }
  }
  return out;
}
