/**
 * A GPU worker in a child process (test/fixtures/workers/gpu-worker.ts: the fixture trainer behind the real worker),
 * for tests that kill a worker the way an operator or the kernel would.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import path from 'node:path';

const repo = path.resolve(__dirname, '..', '..');

/** Starts the fixture GPU worker on `configFile`; its stdout/stderr go where `stdio` says (default: discarded). */
export function spawnGpuWorker(
  configFile: string,
  options: { env?: Record<string, string>; stdio?: StdioOptions } = {},
): ChildProcess {
  return spawn(
    process.execPath,
    [
      '--import',
      path.join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs'),
      path.join(repo, 'test', 'fixtures', 'workers', 'gpu-worker.ts'),
      '--config',
      configFile,
    ],
    {
      stdio: options.stdio ?? ['ignore', 'ignore', process.env.REALGEN_TEST_VERBOSE ? 'inherit' : 'ignore'],
      env: { ...process.env, ...options.env },
    },
  );
}

/** SIGKILL to a worker this test started, resolved once it has exited (at once if it already had). */
export async function killWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
