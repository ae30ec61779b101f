/** `realgen schedule eval|ls|rm`: evaluations of a run's newest checkpoint on a Temporal Schedule. */
import type { Command } from 'commander';
import { parseShortDuration } from '../lib/duration';
import { withContext } from './context';
import { createEvalSchedule, listEvalSchedules, removeEvalSchedule } from '../infra/temporal/eval-schedules';
import { addConfigOption, configFileOf, intOption } from './options';
import { makeTable } from './terminal';

export function registerScheduleCommands(program: Command): void {
  const schedule = program.command('schedule').description('scheduled evaluations (Temporal Schedules)');

  addConfigOption(
    schedule
      .command('eval')
      .description(
        "every interval, evaluate the run's newest committed checkpoint that has no evaluation yet (a tick with nothing new does nothing)",
      ),
    'run config (endpoints, suite, detectors, judge)',
  )
    .requiredOption('--run <id>', 'run id')
    .option('--stage <n>', 'only this stage (default: the latest stage with a checkpoint)', intOption('--stage', 1))
    .requiredOption('--every <duration>', 'interval: 45s, 30m, 6h, 1d …', (v: string) => parseShortDuration(v, '--every'))
    .action(async (opts: { run: string; stage?: number; every: number; config?: string }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const id = await createEvalSchedule(await ctx.client(), ctx.loaded, opts.run, opts.stage, opts.every);
        console.log(
          `schedule ${id} created; see \`realgen schedule ls\`, remove with \`realgen schedule rm --run ${opts.run}${opts.stage === undefined ? '' : ` --stage ${opts.stage}`}\``,
        );
      });
    });

  addConfigOption(schedule.command('ls').description('list evaluation schedules'))
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean; config?: string }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const rows = await listEvalSchedules(await ctx.client());
        if (opts.json) {
          console.log(JSON.stringify(rows, null, 2));
          return;
        }
        const table = makeTable(['schedule', 'run', 'stage', 'every', 'next tick', 'ticks', 'paused']);
        for (const r of rows) table.push([r.id, r.run, r.stage, r.every, r.next ?? '-', r.recentTicks, r.paused ? 'yes' : 'no']);
        console.log(table.toString());
      });
    });

  addConfigOption(schedule.command('rm').description('remove the evaluation schedule of a run (evaluations it started stay)'))
    .requiredOption('--run <id>', 'run id')
    .option('--stage <n>', 'the schedule of this stage (default: the one without --stage)', intOption('--stage', 1))
    .action(async (opts: { run: string; stage?: number; config?: string }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        console.log(`schedule ${await removeEvalSchedule(await ctx.client(), opts.run, opts.stage)} removed`);
      });
    });
}
