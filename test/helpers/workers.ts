/** Both worker classes in the test process, on a config file, with a client; `stop()` shuts everything down. */
import type { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { createWorker } from '../../workers/create-workers';
import { createWorkerContext, type WorkerContext, type WorkerContextOptions } from '../../workers/worker-context';
import { testClient } from './temporal';

export interface TestWorkers {
  ctx: WorkerContext;
  client: Client;
  stop(): Promise<void>;
}

export async function startTestWorkers(configFile: string, options: WorkerContextOptions = {}): Promise<TestWorkers> {
  const ctx = await createWorkerContext(configFile, options);
  const client = await testClient();
  const workers: Worker[] = [await createWorker(ctx, 'cpu'), await createWorker(ctx, 'gpu')];
  const running = Promise.all(workers.map((w) => w.run()));
  return {
    ctx,
    client,
    async stop() {
      for (const w of workers) w.shutdown();
      await running;
      await ctx.connection.close();
      await client.connection.close();
    },
  };
}
