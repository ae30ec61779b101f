/**
 * The real reward service (`realgen serve reward`) for tests of the torch trainer, serving the reward keys of the
 * test's own config file, on a free loopback port, one image per inference batch (scores do not depend on timing).
 * While it runs, REALGEN_REWARD_URL points at it: the GPU worker's trainers inherit this process's environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '../../infra/net/free-port';

const repo = path.resolve(__dirname, '..', '..');

export interface TestRewardService {
  url: string;
  /** SIGTERMs the service (our child) and restores REALGEN_REWARD_URL. */
  stop(): Promise<void>;
}

/** Starts the service and waits (up to 120 s) until `/healthz` answers. */
export async function startRewardService(configFile: string): Promise<TestRewardService> {
  const saved = process.env.REALGEN_REWARD_URL;
  const listen = `127.0.0.1:${await freePort()}`;
  const svc: ChildProcess = spawn(
    path.join(repo, 'bin', 'realgen'),
    ['serve', 'reward', '--config', configFile, '--listen', listen, '--max-batch', '1'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderr: string[] = [];
  createInterface({ input: svc.stderr! }).on('line', (l) => stderr.push(l));
  const stop = async () => {
    if (svc.exitCode === null && svc.signalCode === null) {
      const exited = new Promise((r) => svc.once('exit', r));
      svc.kill('SIGTERM');
      await exited;
    }
    if (saved === undefined) delete process.env.REALGEN_REWARD_URL;
    else process.env.REALGEN_REWARD_URL = saved;
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (svc.exitCode !== null) throw new Error(`reward service exited ${svc.exitCode}: ${stderr.slice(-5).join('\n')}`);
    const up = await fetch(`http://${listen}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`reward service not healthy in 120 s: ${stderr.slice(-5).join('\n')}`);
    }
    await delay(250);
  }
  const url = `http://${listen}`;
  process.env.REALGEN_REWARD_URL = url;
  return { url, stop };
}
