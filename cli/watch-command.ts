/** `realgen watch`: evaluate every checkpoint an outside trainer commits under a run's stage, once each. */
import type { Command } from 'commander';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { watchWorkflowId } from '../contracts/ids';
import { withContext } from './context';
import { addConfigOption, configFileOf, intOption } from './options';

export function registerWatchCommand(program: Command): void {
  addConfigOption(
    program
      .command('watch')
      .description('start a durable watcher that evaluates each newly committed checkpoint of runs/<run>/<stage>/ once'),
    'run config (endpoints, suite, detectors, judge)',
  )
    .requiredOption('--run <id>', 'run id whose checkpoints to watch')
    .requiredOption('--stage <stage>', 'stage folder, e.g. stage-2')
    .option('--eval-every <n>', 'evaluate checkpoints whose step is a multiple of n', intOption('--eval-every', 1), 1)
    .option('--poll-seconds <n>', 'seconds between polls', intOption('--poll-seconds', 1), 60)
    .action(async (opts: { run: string; stage: string; evalEvery: number; pollSeconds: number; config?: string }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const workflowId = watchWorkflowId(opts.run, opts.stage);
        try {
          await (
            await ctx.client()
          ).workflow.start('watchCheckpoints', {
            workflowId,
            taskQueue: ctx.config.taskQueues.cpu,
            args: [
              {
                runId: opts.run,
                stage: opts.stage,
                evalEvery: opts.evalEvery,
                pollSeconds: opts.pollSeconds,
                config: ctx.config,
                configBaseDir: ctx.loaded.baseDir,
                configDigest: ctx.loaded.digest,
              },
            ],
          });
          console.log(
            `watching runs/${opts.run}/${opts.stage}/checkpoints/ (workflow ${workflowId}); stop it with: temporal workflow cancel -w ${workflowId}`,
          );
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) console.log(`already watching (workflow ${workflowId})`);
          else throw err;
        }
      });
    });
}
