/**
 * The one worker factory (worker processes, the CLI's embedded workers and tests): builds the `Worker` of each
 * task-queue class with the activities activities/registry.ts assigns to that queue and explicit concurrency.
 * The CPU class also hosts the workflows (workflow code needs no GPU).
 */
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { cpuQueueActivities, gpuQueueActivities } from '../activities/registry';
import type { WorkerContext } from './worker-context';

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
      activities: gpuQueueActivities(ctx),
      // One activity per trainer slot: a second trainer on the same GPUs would fight for memory.
      maxConcurrentActivityTaskExecutions: gpuSlots(config),
      // Temporal's default is 0 (cancel at once); trainers need time to flush a checkpoint after SIGTERM.
      shutdownGraceTime: `${config.workers.gpu.shutdownGraceSeconds + 10}s`,
      // Pause and cancellation reach a trainer through heartbeat responses; the default throttle (80% of the
      // heartbeat timeout, up to 60 s) would let it train on that long. One tiny RPC per second per trainer.
      maxHeartbeatThrottleInterval: '1 second',
    });
  }
  return await Worker.create({
    connection: ctx.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.taskQueues.cpu,
    workflowBundle: await workflowBundle(),
    activities: cpuQueueActivities(ctx),
    maxConcurrentActivityTaskExecutions: config.workers.cpu.maxConcurrentActivities,
    shutdownGraceTime: '10s',
  });
}

/** Workers of some classes, running; `stop()` shuts them down gracefully and waits until they have stopped. */
export interface RunningWorkers {
  workers: Worker[];
  /** Settles when every worker has stopped (rejects with the first worker failure). */
  running: Promise<void>;
  stop(): Promise<void>;
}

/** Creates and runs the workers of `classes` on one context (the context stays open; close it after `stop()`). */
export async function startWorkers(ctx: WorkerContext, classes: readonly WorkerClass[]): Promise<RunningWorkers> {
  const workers: Worker[] = [];
  for (const cls of classes) workers.push(await createWorker(ctx, cls));
  const running = Promise.all(workers.map((w) => w.run())).then(() => undefined);
  return {
    workers,
    running,
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running;
    },
  };
}
