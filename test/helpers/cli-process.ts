/**
 * The `realgen` CLI as a child process, for tests that run workers in their own process meanwhile (so the call is
 * asynchronous), and the fixture trainer's step log.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'realgen');

/**
 * The environment a CLI child gets: this process's, with a private state folder and without the endpoint and config
 * overrides, so the command uses exactly the `-c` config it is given.
 */
export function cliEnv(stateDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-cli-state-'))): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, REALGEN_STATE_DIR: stateDir };
  for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG']) delete env[k];
  return env;
}

/** Runs `bin/realgen args…` to its end without blocking this process's event loop. */
export function realgenProcess(
  args: string[],
  env: NodeJS.ProcessEnv = cliEnv(),
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The steps the fixture trainer logged for a run (FIXTURE_STEP_LOG), in the order it trained them. */
export function stepsTrained(stepLog: string, runId: string): number[] {
  return readFileSync(stepLog, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${runId} `))
    .map((l) => Number(l.split(' ')[1]));
}
