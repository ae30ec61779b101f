/**
 * `realgen run --embedded-workers` with torch-trainer stages: the torch trainer scores its images over HTTP
 * (`realgen serve reward`), so the one-machine run starts that service in this process for the run's duration
 * instead of asking the user to start it by hand.
 *
 * It binds `reward.service.listen`, or a free port on the same host when that one is taken, and hands the trainers
 * the URL through `REALGEN_REWARD_URL` (the trainer reads it, trainers/torch/realgen_torch/settings.py; the embedded
 * GPU worker passes its environment on to the trainer processes). A stage with `trainer.reward.url`, or an
 * environment that already sets `REALGEN_REWARD_URL`, names a service of its own: then none is started.
 */
import type { LoadedConfig } from '../../configs/load';
import { parseListen, startRewardService, type RunningRewardService } from './server';

/** The environment variable through which the trainers get the service's URL. */
export const REWARD_URL_ENV = 'REALGEN_REWARD_URL';

/** Whether the run needs an embedded reward service: an enabled torch stage without a `trainer.reward.url`. */
export function needsEmbeddedRewardService(loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env[REWARD_URL_ENV] !== undefined && env[REWARD_URL_ENV] !== '') return false;
  return loaded.config.stages.some((s) => s.enabled && s.trainer.backend === 'torch' && s.trainer.reward.url === undefined);
}

/** Starts the service on `reward.service.listen`, or on a free port of the same host when that port is taken. */
async function startOnFreePortIfTaken(loaded: LoadedConfig, log: (line: string) => void): Promise<RunningRewardService> {
  const listen = loaded.config.reward.service.listen;
  try {
    return await startRewardService(loaded, { log });
  } catch (err) {
    if (!/EADDRINUSE/.test((err as Error).message)) throw err;
    const { host } = parseListen(listen);
    log(`reward service: ${listen} (reward.service.listen) is taken; using a free port on ${host}`);
    return await startRewardService(loaded, { log, listen: host.includes(':') ? `[${host}]:0` : `${host}:0` });
  }
}

/**
 * Runs `fn` with the run's reward service up when it needs one (see the module comment), and stops it afterwards,
 * whether `fn` succeeded or not; `REALGEN_REWARD_URL` is set for `fn` only.
 */
export async function withEmbeddedRewardService<T>(
  loaded: LoadedConfig,
  fn: () => Promise<T>,
  log: (line: string) => void = (line) => console.error(line),
): Promise<T> {
  if (!needsEmbeddedRewardService(loaded)) return await fn();
  const running = await startOnFreePortIfTaken(loaded, log);
  process.env[REWARD_URL_ENV] = running.url;
  try {
    return await fn();
  } finally {
    delete process.env[REWARD_URL_ENV];
    await running.close();
  }
}
