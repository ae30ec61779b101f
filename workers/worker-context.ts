/**
 * What every worker process needs, built once from the run config: the Temporal connection,
 * the checkpoint store and a scratch folder. Which activities a queue serves is decided in activities/registry.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { NativeConnection, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import { defaultLauncher } from '../activities/training/external-launcher';
import type { TrainerLauncher } from '../activities/training/trainer-launchers';
import type { ActivityDeps } from '../activities/registry';
import { applyEnvOverrides, loadConfig, type LoadedConfig } from '../configs/load';
import type { RunConfig } from '../configs/schema';
import { CheckpointStore, type StoreLogger } from '../infra/s3/checkpoint-store';
import { createS3Client, resolveS3Credentials } from '../infra/s3/s3-client';
import { temporalTls } from '../infra/temporal/temporal-tls';
import { openWorkerTempDir } from '../infra/workdir/worker-temp';
import { REPO_ROOT } from '../lib/repo-root';
import { retryUntil } from '../lib/retry-until';

export { PRODUCER } from '../activities/registry';

/** The clients of one worker process; also the dependencies its activities are built from. */
export interface WorkerContext extends ActivityDeps {
  loaded: LoadedConfig;
  config: RunConfig;
  connection: NativeConnection;
  store: CheckpointStore;
  workDir: string;
  /** Starts trainer processes per backend (tests swap in a fixture trainer). */
  launcher: TrainerLauncher;
  /** Closes the Temporal connection; removes a default scratch folder. */
  close(): Promise<void>;
}

export interface WorkerContextOptions {
  workDir?: string;
  launcher?: TrainerLauncher;
  /**
   * How long to keep retrying Temporal and the object store when they are unreachable at start. @default 0 (fail at
   * once: the CLI and tests want the error); worker processes (run-worker.ts) wait.
   */
  connectWithinMs?: number;
}

let runtimeInstalled = false;
/**
 * Installs the SDK runtime once per process with a one-line-JSON logger (what log pipelines ingest), at
 * REALGEN_LOG_LEVEL (default WARN). Task tokens are dropped from log lines: they are long and of no use to a reader.
 */
export function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.REALGEN_LOG_LEVEL ?? 'WARN') as LogLevel;
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      // GPU workers host no workflows on purpose; the SDK's warning about it is noise.
      if (entry.message.startsWith('No workflows registered')) return;
      const { taskToken: _taskToken, ...meta } = (entry.meta ?? {}) as Record<string, unknown>;
      const line = JSON.stringify({
        ts: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
        level: entry.level,
        msg: entry.message,
        ...meta,
      });
      if (entry.level === 'ERROR' || entry.level === 'WARN') process.stderr.write(`${line}\n`);
      else process.stdout.write(`${line}\n`);
    }),
  });
}

function storeLogger(): StoreLogger {
  return {
    info: (m, a) => console.log(JSON.stringify({ level: 'info', msg: m, ...a })),
    warn: (m, a) => console.warn(JSON.stringify({ level: 'warn', msg: m, ...a })),
  };
}

/** Loads the config, resolves secrets on this process only, connects to Temporal and S3. */
export async function createWorkerContext(configFile: string, options: WorkerContextOptions = {}): Promise<WorkerContext> {
  const loaded = loadConfig(configFile);
  const config = applyEnvOverrides(loaded.config);
  const credentials = resolveS3Credentials(config, loaded.baseDir);
  const store = new CheckpointStore({
    client: createS3Client(config.storage, credentials),
    bucket: config.storage.bucket,
    transfer: { partChecksum: config.storage.partChecksum },
    logger: storeLogger(),
  });
  // A worker started while Temporal or the object store restarts (a host reboot, a rolling restart) waits for them
  // instead of exiting: without a process manager a dead worker stalls every run on its queue.
  const retry = (what: string) => ({
    withinMs: options.connectWithinMs ?? 0,
    onRetry: (err: unknown, attempt: number, nextInMs: number) =>
      console.warn(
        JSON.stringify({ level: 'warn', msg: `${what} unreachable; retrying`, attempt, nextInMs, error: (err as Error).message }),
      ),
  });
  await retryUntil(() => store.ensureBucket(config.storage.region), retry(`object store ${config.storage.endpoint}`));
  installRuntime();
  const tls = temporalTls(config, loaded.baseDir);
  const connection = await retryUntil(
    () => NativeConnection.connect({ address: config.temporal.address, ...(tls ? { tls } : {}) }),
    retry(`Temporal ${config.temporal.address}`),
  );
  // Scratch under the state folder (not /tmp): the process's folder is private, removed on exit and swept at the next
  // start after a crash; each context gets its own folder in it (tests run several per process), removed by close().
  const processDir = openWorkerTempDir(path.join(process.env.REALGEN_STATE_DIR ?? path.join(REPO_ROOT, '.realgen'), 'tmp'));
  const workDir = options.workDir ?? (await mkdtemp(path.join(processDir, 'ctx-')));
  return {
    loaded,
    config,
    connection,
    store,
    workDir,
    launcher: options.launcher ?? defaultLauncher,
    async close() {
      await connection.close();
      // The per-process scratch folder holds downloaded checkpoints and models: hundreds of MB per worker.
      if (options.workDir === undefined) await rm(workDir, { recursive: true, force: true });
    },
  };
}
