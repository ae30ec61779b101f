/** `realgen smoke`: commit a checkpoint through a workflow on the real stack, then resolve and deep-verify it. */
import type { Command } from 'commander';
import { smokeWorkflowId } from '../contracts/ids';
import type { SmokeCheckpointResult } from '../workflows/smoke-checkpoint';
import { withContext, type CliContext } from './context';
import { addConfigOption, configFileOf, numberOption } from './options';

/** Runs the smoke workflow; with `embeddedWorkers` both worker classes run inside this process meanwhile. */
async function runSmoke(
  ctx: CliContext,
  runId: string,
  sizeMib: number,
  embeddedWorkers: boolean,
): Promise<SmokeCheckpointResult> {
  const client = await ctx.client();
  const start = async () =>
    (await client.workflow.execute('smokeCheckpoint', {
      workflowId: smokeWorkflowId(runId),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [
        {
          runId,
          sizeBytes: Math.round(sizeMib * 1024 * 1024),
          configDigest: ctx.loaded.digest,
          taskQueues: ctx.config.taskQueues,
        },
      ],
    })) as SmokeCheckpointResult;
  return embeddedWorkers ? await ctx.withWorkers(['cpu', 'gpu'], start) : await start();
}

export function registerSmokeCommand(program: Command): void {
  addConfigOption(
    program
      .command('smoke')
      .description('commit a checkpoint through a workflow, then resolve and deep-verify it (storage + Temporal smoke test)'),
  )
    // The default is computed when the command runs, not when the help is printed.
    .option('--run-id <id>', 'run id; the workflow id is smoke/<id> (default: smoke-<milliseconds since 1970>)')
    .option('--size-mib <n>', 'payload size in MiB', numberOption('--size-mib', 0), 4)
    .option('--no-embedded-workers', 'use already-running workers instead of starting them in this process')
    .action(async (opts: { config?: string; runId?: string; sizeMib: number; embeddedWorkers: boolean }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const result = await runSmoke(ctx, opts.runId ?? `smoke-${Date.now()}`, opts.sizeMib, opts.embeddedWorkers);
        console.log(
          `committed  s3://${result.committed.bucket}/${result.committed.prefix} (manifest sha256 ${result.committed.manifestSha256})`,
        );
        console.log(
          `resolved   step ${result.resolved.step}, deep-verified ${result.verified.files} files, ${result.verified.bytes} bytes`,
        );
      });
    });
}
