/** `realgen status|pause|resume|set-max-steps|cancel|runs`: looking at and steering runs on Temporal. */
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { runWorkflowId, stageKey } from '../contracts/ids';
import { setMaxStepsUpdate } from '../contracts/training-messages';
import { controlRun, stageHandle, updateError } from '../infra/temporal/run-control';
import { runFailure } from '../infra/temporal/run-failure';
import { describeLastFailure, describeLiveness } from '../infra/temporal/segment-liveness';
import { describeGpuUsage, gpuHours } from '../domain/cost/gpu-usage';
import type { PipelineMemo } from '../workflows/realgen-pipeline';
import { withContext } from './context';
import { addConfigOption, configFileOf, intOption } from './options';
import { pipelineProgress } from './run-progress';
import { parseSince, parseStatuses, runsQuery } from './runs-filter';
import { makeTable } from './terminal';

const stageOption = ['--stage <n>', 'the stage (default: the one running)', intOption('--stage', 1)] as const;

/** How long `status` waits for a worker to answer the progress query. */
const QUERY_DEADLINE_MS = 10_000;

/**
 * `status`: the status comes from describe(); the progress query is best effort, bounded by a deadline, because a
 * closed run (cancelled, failed, terminated) or a run whose CPU worker is gone has no worker to answer it.
 */
async function printStatus(client: Client, runId: string, json: boolean, costPerGpuHour?: number): Promise<void> {
  const handle = client.workflow.getHandle(runWorkflowId(runId));
  const desc = await handle.describe();
  const open = desc.status.name === 'RUNNING';
  const progress = await client
    .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => pipelineProgress(client, runId))
    .catch(() => null);
  // A failed run says why (the innermost cause, e.g. the trainer's ConfigInvalid naming the missing file).
  const failure = await runFailure(handle, desc.status.name);
  const failureLine = failure === null ? null : `failed: ${failure.type === null ? '' : `${failure.type}: `}${failure.message}`;
  if (json) {
    const fallback = { status: desc.status.name, closeTime: desc.closeTime?.toISOString() ?? null, pipeline: null, stage: null };
    console.log(JSON.stringify({ ...(progress ?? fallback), failure }, null, 2));
    return;
  }
  if (progress === null) {
    const why = open
      ? `no worker answered the progress query within ${QUERY_DEADLINE_MS / 1000} s: is a CPU worker polling ${desc.taskQueue}?`
      : `closed ${desc.closeTime?.toISOString() ?? '?'}; no worker answered the progress query`;
    console.log(`run ${runId}: ${desc.status.name} (${why}; started ${desc.startTime.toISOString()})`);
    if (failureLine !== null) console.log(failureLine);
    return;
  }
  const p = progress;
  console.log(`run ${runId}: ${p.status}, phase ${p.pipeline.phase}`);
  const table = makeTable(['stage', 'state', 'step', 'last checkpoint', 'reward (last)', 'eta']);
  for (const [k, ref] of Object.entries(p.pipeline.completed)) {
    const r = p.pipeline.rewards?.[k];
    table.push([k, 'done', ref?.step ?? '-', ref?.prefix ?? '-', r ? `${r.reward.toFixed(4)} @${r.step}` : '-', '-']);
  }
  // A segment whose attempt failed and whose retry waits is not "running" with an ETA (issue 12 item 7).
  const retryWaiting = open && p.segment !== null && p.segment.state === 'scheduled' && p.segment.lastFailure !== null;
  if (p.stage) {
    // The stage learns steps and rewards when a segment ends; the running segment's heartbeat is newer.
    const beat = open ? (p.segment?.heartbeat ?? null) : null;
    const step = Math.max(p.stage.step, beat?.step ?? 0);
    const finishedReward = p.stage.recentRewards.at(-1);
    const r =
      beat?.reward && (finishedReward === undefined || beat.reward.step >= finishedReward.step)
        ? { step: beat.reward.step, reward: beat.reward.value }
        : finishedReward;
    table.push([
      stageKey(p.stage.stage),
      !open ? desc.status.name.toLowerCase() : retryWaiting ? 'retry waiting' : p.stage.state,
      `${step}/${p.stage.maxSteps}`,
      p.stage.lastCheckpoint?.prefix ?? '-',
      r ? `${r.reward.toFixed(4)} @${r.step}` : '-',
      !open || retryWaiting || p.stage.etaSeconds === null || p.stage.state === 'paused' ? '-' : `${p.stage.etaSeconds}s`,
    ]);
  }
  console.log(table.toString());
  // Finished stages from the pipeline; the running stage's finished segments from its own progress.
  const finished = Object.values(p.pipeline.gpuSeconds ?? {}).reduce((a, b) => a + b, 0);
  const live = p.stage && p.pipeline.currentStage === p.stage.stage ? (p.stage.gpuSeconds ?? 0) : 0;
  console.log(`GPU usage: ${describeGpuUsage(finished + live, costPerGpuHour)} (finished segments)`);
  if (open && p.segment && p.stage?.state !== 'paused') {
    const stage = stageKey(p.stage?.stage ?? 0);
    console.log(`${stage} segment: ${describeLiveness(p.segment)}`);
    const failure = describeLastFailure(p.segment);
    if (failure) console.log(`${stage} ${failure}`);
  }
  if (failureLine !== null) console.log(failureLine);
}

export function registerRunControlCommands(program: Command): void {
  addConfigOption(
    program
      .command('status')
      .description('progress of a run: phase, current stage, step, rewards, ETA')
      .argument('<run>', 'run id'),
  )
    .option('--json', 'print JSON')
    .action(async (runId: string, opts: { config?: string; json?: boolean }) => {
      await withContext(configFileOf(opts.config), async (ctx) =>
        printStatus(await ctx.client(), runId, opts.json === true, ctx.config.costPerGpuHour),
      );
    });

  for (const [name, description] of [
    ['pause', 'hold the whole run: the trainer checkpoints and stops, nothing new starts (--stage N: that stage only)'],
    ['resume', 'continue a paused run (--stage N: that stage only)'],
  ] as const) {
    addConfigOption(program.command(name).description(description).argument('<run>', 'run id'))
      .option(...stageOption)
      .action(async (runId: string, opts: { config?: string; stage?: number }) => {
        await withContext(configFileOf(opts.config), async (ctx) => {
          const stage = opts.stage === undefined ? {} : { stage: opts.stage };
          console.log((await controlRun(await ctx.client(), runId, name, stage)).message);
        });
      });
  }

  addConfigOption(
    program
      .command('set-max-steps')
      .description("change the running stage's step budget (not below the steps already completed)")
      .argument('<run>', 'run id')
      .argument('<steps>', 'new maxSteps (an integer ≥ 1)', intOption('steps', 1)),
  )
    .option(...stageOption)
    .action(async (runId: string, steps: number, opts: { config?: string; stage?: number }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const handle = await stageHandle(await ctx.client(), runId, opts.stage);
        const ack = await handle.executeUpdate(setMaxStepsUpdate, { args: [steps] }).catch((err: unknown) => {
          throw updateError(err);
        });
        console.log(`${handle.workflowId}: maxSteps ${ack.maxSteps}`);
      });
    });

  addConfigOption(
    program
      .command('cancel')
      .description('cancel a run (or one stage with --stage): the running trainer commits a checkpoint and stops')
      .argument('<run>', 'run id'),
  )
    .option('--stage <n>', 'cancel only this stage workflow of the run', intOption('--stage', 1))
    .option('--no-wait', 'request the cancellation and return without waiting for the workflow to close')
    .action(async (runId: string, opts: { config?: string; stage?: number; wait: boolean }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const stage = opts.stage === undefined ? {} : { stage: opts.stage };
        console.log((await controlRun(await ctx.client(), runId, 'cancel', { ...stage, wait: opts.wait })).message);
      });
    });

  addConfigOption(program.command('runs').description('list runs (newest first)'))
    .option('--limit <n>', 'rows', intOption('--limit', 1), 20)
    .option(
      '--status <list>',
      'only runs in these states: running, completed, failed, cancelled, terminated, timed-out (comma-separated)',
      parseStatuses,
    )
    .option('--since <when>', 'only runs started since: a duration back from now (6h, 2d) or an ISO date/time', (v: string) =>
      parseSince(v),
    )
    .option('--json', 'print a JSON array of {run, status, started, closed, gpuHours}')
    .action(async (opts: { config?: string; limit: number; json?: boolean; status?: string[]; since?: Date }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const rows: Array<{ run: string; status: string; started: string; closed: string | null; gpuHours: number | null }> = [];
        const query = runsQuery({
          ...(opts.status ? { statuses: opts.status } : {}),
          ...(opts.since ? { since: opts.since } : {}),
        });
        for await (const wf of (await ctx.client()).workflow.list({ query })) {
          // The pipeline's memo holds the GPU-seconds of its finished stages (absent for runs of older code).
          const seconds = (wf.memo as Partial<PipelineMemo> | undefined)?.gpuSeconds;
          rows.push({
            run: wf.workflowId.replace(/^run\//, ''),
            status: wf.status.name,
            started: wf.startTime.toISOString(),
            closed: wf.closeTime?.toISOString() ?? null,
            gpuHours: typeof seconds === 'number' ? gpuHours(seconds) : null,
          });
          if (rows.length >= opts.limit) break;
        }
        if (opts.json) {
          console.log(JSON.stringify(rows, null, 2));
          return;
        }
        const cost = ctx.config.costPerGpuHour;
        const table = makeTable(['run', 'status', 'started', 'closed', cost === undefined ? 'GPU-h' : 'GPU-h (cost)']);
        for (const r of rows) {
          table.push([
            r.run,
            r.status,
            r.started,
            r.closed ?? '-',
            r.gpuHours === null ? '-' : describeGpuUsage(r.gpuHours * 3600, cost).replace(' GPU-h', ''),
          ]);
        }
        console.log(table.toString());
      });
    });
}
