/** Shared `main` of the worker entry points: parse flags, build the context, run until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { startWorkers, type WorkerClass } from './create-workers';
import { createWorkerContext } from './worker-context';

/** How long a worker process waits at start for an unreachable Temporal or object store. */
export const WORKER_CONNECT_WITHIN_MS = 120_000;

export async function runWorkerMain(classes: WorkerClass[], argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, gpus: { type: 'string' } },
  });
  const configFile = values.config ?? process.env.REALGEN_CONFIG;
  if (!configFile) throw new Error('missing --config FILE (or REALGEN_CONFIG)');
  // A worker process outlives restarts of the servers it needs, also at its own start (issue 12, chaos soak).
  const ctx = await createWorkerContext(configFile, { connectWithinMs: WORKER_CONNECT_WITHIN_MS });
  if (values.gpus !== undefined) {
    const ids = values.gpus
      .split(',')
      .filter((s) => s !== '')
      .map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 0)
          throw new Error(`--gpus: expected comma-separated GPU ids, got ${JSON.stringify(values.gpus)}`);
        return n;
      });
    ctx.config.workers.gpu.gpuIds = ids;
  }
  const workers = await startWorkers(ctx, classes);
  console.log(JSON.stringify({ level: 'info', msg: 'workers started', classes, address: ctx.config.temporal.address }));
  // Worker.run() installs SIGINT/SIGTERM handlers that start a graceful shutdown (shutdownGraceTime applies).
  await workers.running;
  await ctx.close();
}
