/**
 * What every worker process needs, built once from the run config: the Temporal connection, the S3 client and
 * checkpoint store, and the activity implementations per task-queue class.
 */
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import { connectClient } from '../infra/temporal/temporal-client';
import { createCheckpointActivities, createCheckpointDiscovery } from '../activities/checkpoint-activities';
import { createDataActivities } from '../activities/data-activities';
import { evaluationCpuActivities, evaluationGpuActivities } from '../activities/evaluation';
import { GpuPool } from '../activities/training/gpu-pool';
import { defaultLauncher } from '../activities/training/external-launcher';
import type { TrainerLauncher } from '../activities/training/trainer-launchers';
import { createTrainerSupervisor } from '../activities/training/trainer-supervisor';
import { applyEnvOverrides, loadConfig, type LoadedConfig } from '../configs/load';
import type { RunConfig } from '../configs/schema';
import { CheckpointStore, type StoreLogger } from '../infra/s3/checkpoint-store';
import { createS3Client, resolveS3Credentials } from '../infra/s3/s3-client';
import { temporalTls } from '../infra/temporal/temporal-tls';
import { openWorkerTempDir } from '../infra/workdir/worker-temp';

const REPO_ROOT = path.resolve(__dirname, '..');

export const PRODUCER = { name: 'realgen', version: '0.1.0' };

export interface WorkerContext {
  loaded: LoadedConfig;
  config: RunConfig;
  connection: NativeConnection;
  store: CheckpointStore;
  workDir: string;
  /** Starts trainer processes per backend (tests swap in a fixture trainer). */
  launcher: TrainerLauncher;
}

export interface WorkerContextOptions {
  workDir?: string;
  launcher?: TrainerLauncher;
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
      const line = JSON.stringify({ ts: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(), level: entry.level, msg: entry.message, ...meta });
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
  const store = new CheckpointStore({ client: createS3Client(config.storage, credentials), bucket: config.storage.bucket, logger: storeLogger() });
  await store.ensureBucket(config.storage.region);
  installRuntime();
  const tls = temporalTls(config, loaded.baseDir);
  const connection = await NativeConnection.connect({ address: config.temporal.address, ...(tls ? { tls } : {}) });
  // Scratch under the state folder (not /tmp): private, removed on exit, swept at the next start after a crash.
  const workDir = options.workDir ?? openWorkerTempDir(path.join(process.env.REALGEN_STATE_DIR ?? path.join(REPO_ROOT, '.realgen'), 'tmp'));
  return { loaded, config, connection, store, workDir, launcher: options.launcher ?? defaultLauncher };
}

/** Activities served on the GPU queue (trainers, checkpoint commits, generation). */
export function gpuActivities(ctx: Pick<WorkerContext, 'store' | 'workDir' | 'config' | 'launcher'>) {
  const checkpoints = createCheckpointActivities({ store: ctx.store, workDir: ctx.workDir, producer: PRODUCER });
  const gpu = ctx.config.workers.gpu;
  const supervisor = createTrainerSupervisor({
    store: ctx.store,
    workDir: ctx.workDir,
    gpuPool: new GpuPool(gpu.gpuIds, gpu.gpusPerTrainer, gpu.cpuSlots),
    launcher: ctx.launcher,
    producer: PRODUCER,
    graceSeconds: gpu.shutdownGraceSeconds,
  });
  return {
    writeSmokeCheckpoint: checkpoints.writeSmokeCheckpoint,
    runTrainerSegment: supervisor.runTrainerSegment,
    ...evaluationGpuActivities({ store: ctx.store, workDir: ctx.workDir }),
  };
}

/** Activities served on the CPU queue (resolution, verification, data, reports). */
export function cpuActivities(ctx: Pick<WorkerContext, 'store' | 'workDir' | 'loaded'>) {
  const checkpoints = createCheckpointActivities({ store: ctx.store, workDir: ctx.workDir, producer: PRODUCER });
  const data = createDataActivities({ store: ctx.store });
  // A client for joining evaluations, built on first use (workers only hold a NativeConnection).
  let client: Promise<Client> | undefined;
  return {
    resolveLatestCheckpoint: checkpoints.resolveLatestCheckpoint,
    verifyCheckpoint: checkpoints.verifyCheckpoint,
    prepareData: data.prepareData,
    ...createCheckpointDiscovery({ store: ctx.store }),
    ...evaluationCpuActivities({ store: ctx.store, workDir: ctx.workDir, client: () => (client ??= connectClient(ctx.loaded)) }),
  };
}
