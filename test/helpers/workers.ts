/** Both worker classes in the test process, on a config file, with a client; `stop()` shuts everything down. */
import type { Client } from '@temporalio/client';
import { runWorkflowId } from '../../contracts/ids';
import { startWorkers, type WorkerClass } from '../../workers/create-workers';
import { createWorkerContext, type WorkerContext, type WorkerContextOptions } from '../../workers/worker-context';
import { testClient } from './temporal';

export interface TestWorkers {
  ctx: WorkerContext;
  client: Client;
  stop(): Promise<void>;
}

/** `classes`: which worker classes run in this process (['cpu'] when the test runs the GPU worker as a child). */
export async function startTestWorkers(
  configFile: string,
  options: WorkerContextOptions = {},
  classes: readonly WorkerClass[] = ['cpu', 'gpu'],
): Promise<TestWorkers> {
  const ctx = await createWorkerContext(configFile, options);
  const client = await testClient();
  const workers = await startWorkers(ctx, classes);
  return {
    ctx,
    client,
    async stop() {
      await workers.stop();
      await ctx.close();
      await client.connection.close();
    },
  };
}

/** Starts the pipeline of `runId` on the workers' own config (no final evaluation unless asked for). */
export function startPipeline(workers: Pick<TestWorkers, 'ctx' | 'client'>, runId: string, evaluateFinal = false) {
  const { ctx, client } = workers;
  return client.workflow.start('realgenPipeline', {
    workflowId: runWorkflowId(runId),
    taskQueue: ctx.config.taskQueues.cpu,
    args: [{ runId, config: ctx.config, configBaseDir: ctx.loaded.baseDir, configDigest: ctx.loaded.digest, evaluateFinal }],
  });
}
