/**
 * Which activities each task queue serves: the one place that decides it. Workers register exactly these objects;
 * workflows proxy `CpuQueueActivities` / `GpuQueueActivities` (types only), so the types say what runs where.
 * Activity names are the object keys and are recorded in histories: never rename one.
 */
import type { RunConfig } from '../configs/schema';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';
import { createCheckpointActivities, createCheckpointDiscovery } from './checkpoint-activities';
import { createDataActivities } from './data-activities';
import { createNotificationActivities } from './notification-activities';
import { evaluationCpuActivities, evaluationGpuActivities } from './evaluation';
import { GpuPool } from './training/gpu-pool';
import type { TrainerLauncher } from './training/trainer-launchers';
import { createTrainerSupervisor } from './training/trainer-supervisor';

/** Name and version written into every manifest this code commits. */
export const PRODUCER = { name: 'realgen', version: '0.1.0' };

/** The clients and settings activities are built from (a worker builds them once per process). */
export interface ActivityDeps {
  config: RunConfig;
  store: CheckpointStore;
  /** Scratch space for job specs, checkpoint folders and downloads. */
  workDir: string;
  /** Starts trainer processes per backend (tests swap in a fixture trainer). */
  launcher: TrainerLauncher;
}

/** GPU queue: trainers, checkpoint commits of the smoke test, image generation and detector scoring. */
export function gpuQueueActivities(deps: Pick<ActivityDeps, 'config' | 'store' | 'workDir' | 'launcher'>) {
  const checkpoints = createCheckpointActivities({ store: deps.store, workDir: deps.workDir, producer: PRODUCER });
  const gpu = deps.config.workers.gpu;
  // One pool for trainers and the torch evaluation sampler: each runs on its slot's GPUs (CUDA_VISIBLE_DEVICES).
  const gpuPool = new GpuPool(gpu.gpuIds, gpu.gpusPerTrainer, gpu.cpuSlots);
  const supervisor = createTrainerSupervisor({
    store: deps.store,
    workDir: deps.workDir,
    gpuPool,
    launcher: deps.launcher,
    producer: PRODUCER,
    graceSeconds: gpu.shutdownGraceSeconds,
  });
  return {
    writeSmokeCheckpoint: checkpoints.writeSmokeCheckpoint,
    runTrainerSegment: supervisor.runTrainerSegment,
    ...evaluationGpuActivities({ store: deps.store, workDir: deps.workDir, gpuPool }),
  };
}

/** CPU queue: checkpoint resolution and verification, discovery, data preparation, notifications, evaluation planning/judging/reports. */
export function cpuQueueActivities(deps: Pick<ActivityDeps, 'store' | 'workDir'>) {
  const checkpoints = createCheckpointActivities({ store: deps.store, workDir: deps.workDir, producer: PRODUCER });
  const data = createDataActivities({ store: deps.store });
  return {
    resolveLatestCheckpoint: checkpoints.resolveLatestCheckpoint,
    verifyCheckpoint: checkpoints.verifyCheckpoint,
    prepareData: data.prepareData,
    ...createNotificationActivities(),
    ...createCheckpointDiscovery({ store: deps.store }),
    ...evaluationCpuActivities({ store: deps.store, workDir: deps.workDir }),
  };
}

/** Activities of the GPU queue, as workflows proxy them. */
export type GpuQueueActivities = ReturnType<typeof gpuQueueActivities>;
/** Activities of the CPU queue, as workflows proxy them. */
export type CpuQueueActivities = ReturnType<typeof cpuQueueActivities>;
