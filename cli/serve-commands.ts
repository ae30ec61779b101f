/** `realgen serve reward`: the reward service trainers call over HTTP (one process for every reward model). */
import type { Command } from 'commander';
import { startRewardService } from '../services/reward/server';
import { loadResolved } from './context';
import { addConfigOption, configFileOf, intOption } from './options';
import { untilStopSignal } from './until-signal';

export function registerServeCommands(program: Command): void {
  const serve = program.command('serve').description('Long-running services');
  addConfigOption(
    serve
      .command('reward')
      .description('Serve the reward models of a config over HTTP (POST /v1/score, GET /healthz, GET /metrics)'),
  )
    .option('--listen <host:port>', 'address to bind (default: reward.service.listen, loopback)')
    .option('--max-batch <n>', 'largest inference batch (default: reward.service.maxBatch)', intOption('--max-batch', 1))
    .option(
      '--max-wait-ms <ms>',
      'how long a partial batch waits (default: reward.service.maxWaitMs)',
      intOption('--max-wait-ms', 0),
    )
    .option('--threads <n>', 'ONNX Runtime intra-op threads per model', intOption('--threads', 1), 1)
    .option('--max-body-mib <n>', 'largest request body in MiB', intOption('--max-body-mib', 1), 64)
    .option('--max-images <n>', 'most images in one request (413 beyond)', intOption('--max-images', 1), 1024)
    .option('--max-connections <n>', 'most open connections', intOption('--max-connections', 1), 64)
    .option('--body-timeout-s <s>', 'seconds a request has to arrive (408 beyond)', intOption('--body-timeout-s', 1), 30)
    .option('--insecure', 'allow a non-loopback --listen without reward.service.tokenFile')
    .action(
      async (opts: {
        config?: string;
        listen?: string;
        maxBatch?: number;
        maxWaitMs?: number;
        threads: number;
        maxBodyMib: number;
        maxImages: number;
        maxConnections: number;
        bodyTimeoutS: number;
        insecure?: boolean;
      }) => {
        const { loaded } = loadResolved(configFileOf(opts.config));
        const running = await startRewardService(loaded, {
          ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
          ...(opts.maxBatch !== undefined ? { maxBatch: opts.maxBatch } : {}),
          ...(opts.maxWaitMs !== undefined ? { maxWaitMs: opts.maxWaitMs } : {}),
          intraOpThreads: opts.threads,
          maxBodyBytes: opts.maxBodyMib * 1024 * 1024,
          maxImagesPerRequest: opts.maxImages,
          maxConnections: opts.maxConnections,
          bodyTimeoutMs: opts.bodyTimeoutS * 1000,
          insecure: opts.insecure === true,
        });
        const signal = await untilStopSignal();
        console.error(`reward service: ${signal}, draining`);
        await running.close();
      },
    );
}
