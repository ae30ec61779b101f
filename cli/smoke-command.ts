/** `realgen smoke`: commit a checkpoint through a workflow on the real stack, then resolve and deep-verify it. */
import type { Command } from 'commander';
import { loadConfig } from '../configs/load';
import { smokeWorkflowId } from '../contracts/ids';
import type { SmokeCheckpointResult } from '../workflows/smoke-checkpoint';
import { createWorker } from '../workers/create-workers';
import { createWorkerContext } from '../workers/worker-context';
import { connectClient } from '../infra/temporal/temporal-client';

export interface SmokeOptions {
  config: string;
  runId: string;
  sizeMib: number;
  embeddedWorkers: boolean;
}

/** Runs the smoke workflow; with `embeddedWorkers` both worker classes run inside this process meanwhile. */
export async function runSmoke(opts: SmokeOptions): Promise<SmokeCheckpointResult> {
  const loaded = loadConfig(opts.config);
  const client = await connectClient(loaded);
  const start = async () =>
    await client.workflow.execute('smokeCheckpoint', {
      workflowId: smokeWorkflowId(opts.runId),
      taskQueue: loaded.config.taskQueues.cpu,
      args: [
        {
          runId: opts.runId,
          sizeBytes: Math.round(opts.sizeMib * 1024 * 1024),
          configDigest: loaded.digest,
          taskQueues: loaded.config.taskQueues,
        },
      ],
    });
  try {
    if (!opts.embeddedWorkers) return (await start()) as SmokeCheckpointResult;
    const ctx = await createWorkerContext(opts.config);
    const [cpu, gpu] = [await createWorker(ctx, 'cpu'), await createWorker(ctx, 'gpu')];
    try {
      return (await cpu.runUntil(gpu.runUntil(start()))) as SmokeCheckpointResult;
    } finally {
      await ctx.connection.close();
    }
  } finally {
    await client.connection.close();
  }
}

export function registerSmokeCommand(program: Command): void {
  program
    .command('smoke')
    .description('commit a checkpoint through a workflow, then resolve and deep-verify it (storage + Temporal smoke test)')
    .requiredOption('-c, --config <file>', 'run config', 'configs/mini.yaml')
    .option('--run-id <id>', 'run id (the workflow id is smoke/<id>)', `smoke-${Date.now()}`)
    .option('--size-mib <n>', 'payload size in MiB', '4')
    .option('--no-embedded-workers', 'use already-running workers instead of starting them in this process')
    .action(async (opts: { config: string; runId: string; sizeMib: string; embeddedWorkers: boolean }) => {
      const result = await runSmoke({ config: opts.config, runId: opts.runId, sizeMib: Number(opts.sizeMib), embeddedWorkers: opts.embeddedWorkers });
      console.log(`committed  s3://${result.committed.bucket}/${result.committed.prefix} (manifest sha256 ${result.committed.manifestSha256})`);
      console.log(`resolved   step ${result.resolved.step}, deep-verified ${result.verified.files} files, ${result.verified.bytes} bytes`);
    });
}
