/**
 * A worker process started while Temporal is down (a rolling restart, a host reboot) waits for it and starts once it
 * is back, instead of exiting with "Connection refused" and leaving its queue unserved (found by `npm run chaos`: a
 * CPU worker restarted during a Temporal restart died, and the run stalled). Private real stack.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { stackDown, stackUp } from '../../devstack/dev-stack';
import { stopGroup } from '../../devstack/processes';
import type { StackState } from '../../devstack/stack-state';
import { freePort } from '../../infra/net/free-port';
import { testConfigFile } from '../helpers/stack';

const repo = path.resolve(__dirname, '..', '..');
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-worker-start-'));

describe('worker process start while Temporal is down', () => {
  after(async () => {
    await stackDown(stateDir);
  });

  it('waits for Temporal and starts once it is back', async () => {
    let state: StackState = await stackUp({ stateDir, ports: 'auto' });
    const stack = {
      temporalAddress: state.temporal.address,
      s3Endpoint: state.minio.endpoint,
      accessKeyFile: state.secrets.accessKeyFile,
      secretKeyFile: state.secrets.secretKeyFile,
      credentials: {
        accessKey: readFileSync(state.secrets.accessKeyFile, 'utf8').trim(),
        secretKey: readFileSync(state.secrets.secretKeyFile, 'utf8').trim(),
      },
    };
    const config = await testConfigFile({ stack });
    assert.equal((await stopGroup(state.temporal)).result, 'stopped');
    const env: NodeJS.ProcessEnv = { ...process.env, REALGEN_STATE_DIR: stateDir };
    for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG']) delete env[k];
    const worker = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'workers', 'cpu.ts'), '--config', config], {
      cwd: repo,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<string>((resolve) => worker.once('exit', (code, signal) => resolve(`exited (${signal ?? code})`)));
    const lines: string[] = [];
    const seen = (re: RegExp) =>
      new Promise<string>((resolve) => {
        const check = (l: string) => re.test(l) && resolve(l);
        lines.forEach(check);
        for (const s of [worker.stdout, worker.stderr])
          createInterface({ input: s }).on('line', (l) => (lines.push(l), check(l)));
      });
    try {
      const retrying = await Promise.race([seen(/Temporal \S+ unreachable; retrying/), exited]);
      assert.match(
        retrying,
        /unreachable; retrying/,
        `the worker did not wait for Temporal; it ${retrying}:\n${lines.join('\n')}`,
      );
      const port = (u: string) => Number(u.split(':').at(-1));
      state = await stackUp({
        stateDir,
        ports: {
          temporal: port(state.temporal.address),
          temporalUi: port(state.temporal.uiUrl),
          temporalHttp: await freePort(),
          temporalMetrics: await freePort(),
          minio: port(state.minio.endpoint),
          minioConsole: port(state.minio.consoleUrl),
        },
      });
      const started = await Promise.race([seen(/"msg":"workers started"/), exited]);
      assert.match(
        started,
        /workers started/,
        `the worker did not start after Temporal came back; it ${started}:\n${lines.join('\n')}`,
      );
    } finally {
      worker.kill('SIGTERM');
      await exited;
    }
  });
});
