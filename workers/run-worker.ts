/** Shared `main` of the worker entry points: parse flags, build the context, run until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { startWorkers, type WorkerClass } from './create-workers';
import { createWorkerContext } from './worker-context';

export async function runWorkerMain(classes: WorkerClass[], argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, gpus: { type: 'string' } },
  });
  const configFile = values.config ?? process.env.REALGEN_CONFIG;
  if (!configFile) throw new Error('missing --config FILE (or REALGEN_CONFIG)');
  const ctx = await createWorkerContext(configFile);
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
