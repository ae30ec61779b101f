/**
 * Builds the `Worker`s of each task-queue class with explicit concurrency. The CPU class also hosts the
 * workflows (workflow code needs no GPU).
 */
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { cpuActivities, gpuActivities, type WorkerContext } from './worker-context';

export type WorkerClass = 'cpu' | 'gpu';

const WORKFLOWS_PATH = require.resolve('../workflows/index.ts');

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundles the workflow code once per process (it takes a few seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundle;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

/** Slots of the GPU class: one trainer per `gpusPerTrainer` GPUs, or `cpuSlots` without GPUs. */
export function gpuSlots(config: WorkerContext['config']): number {
  const gpu = config.workers.gpu;
  return gpu.gpuIds.length === 0 ? gpu.cpuSlots : Math.floor(gpu.gpuIds.length / gpu.gpusPerTrainer);
}

export async function createWorker(ctx: WorkerContext, cls: WorkerClass): Promise<Worker> {
  const { config } = ctx;
  if (cls === 'gpu') {
    return await Worker.create({
      connection: ctx.connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueues.gpu,
      activities: gpuActivities(ctx),
      // One activity per trainer slot: a second trainer on the same GPUs would fight for memory.
      maxConcurrentActivityTaskExecutions: gpuSlots(config),
      // Temporal's default is 0 (cancel at once); trainers need time to flush a checkpoint after SIGTERM.
      shutdownGraceTime: `${config.workers.gpu.shutdownGraceSeconds + 10}s`,
    });
  }
  return await Worker.create({
    connection: ctx.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.taskQueues.cpu,
    workflowBundle: await workflowBundle(),
    activities: cpuActivities(ctx),
    maxConcurrentActivityTaskExecutions: config.workers.cpu.maxConcurrentActivities,
    shutdownGraceTime: '10s',
  });
}
