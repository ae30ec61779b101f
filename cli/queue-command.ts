/** `realgen queue`: what holds a GPU slot now and what waits for one, in the order the server will start them. */
import type { Command } from 'commander';
import { gpuQueueView } from '../infra/temporal/gpu-queue';
import { withContext } from './context';
import { addConfigOption, configFileOf } from './options';
import { makeTable } from './terminal';

export function registerQueueCommand(program: Command): void {
  addConfigOption(program.command('queue').description('GPU work: what runs on which slot, and what waits (in priority order)'))
    .option('--json', 'print {running, waiting} as JSON')
    .action(async (opts: { json?: boolean; config?: string }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const view = await gpuQueueView(await ctx.client(), ctx.config.taskQueues.gpu);
        if (opts.json) {
          console.log(JSON.stringify(view, null, 2));
          return;
        }
        console.log(`GPU queue ${ctx.config.taskQueues.gpu}: ${view.running.length} running, ${view.waiting.length} waiting`);
        const running = makeTable(['slot (worker / GPUs)', 'workflow', 'activity', 'priority', 'attempt', 'since']);
        for (const e of view.running) {
          const slot = `${e.worker ?? '?'}${e.gpus === null ? '' : e.gpus.length === 0 ? ' / cpu slot' : ` / GPUs ${e.gpus.join(',')}`}`;
          running.push([slot, e.workflowId, e.activity, e.priority, e.attempt, e.scheduledAt]);
        }
        console.log(running.toString());
        const waiting = makeTable(['#', 'workflow', 'activity', 'priority', 'fairness key', 'waiting since']);
        view.waiting.forEach((e, i) =>
          waiting.push([i + 1, e.workflowId, e.activity, e.priority, e.fairnessKey || '-', e.scheduledAt]),
        );
        console.log(waiting.toString());
      });
    });
}
