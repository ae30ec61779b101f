/** `realgen run [CONFIG | -c CONFIG]`: validate a run config and start the RealGen pipeline on it. */
import type { Command } from 'commander';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import { assertRunId, evalKeyOfWorkflowId, runWorkflowId, stageKey, stageWorkflowId } from '../contracts/ids';
import { RUN_ID } from '../contracts/search-attributes';
import { stageProgressQuery } from '../contracts/training-messages';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';
import type { PipelineInput, PipelineResult } from '../workflows/realgen-pipeline';
import { withContext, type CliContext } from './context';
import { describeLaunches } from './dry-run';
import { withEmbeddedRewardService } from '../services/reward/embedded-service';
import { addConfigOption, configFileOf, intOption } from './options';
import { followRun } from './run-progress';
import { makeTable } from './terminal';

/** Resolves `stage-2=<checkpoint prefix>` warm starts into references (reads and verifies each manifest). */
async function resolveStartFrom(store: CheckpointStore, specs: string[]): Promise<Record<string, CheckpointRef>> {
  const out: Record<string, CheckpointRef> = {};
  for (const spec of specs) {
    const m = /^(stage-[123])=(.+\/)$/.exec(spec);
    if (!m?.[1] || !m[2])
      throw new Error(`--start-from: expected stage-<n>=<checkpoint prefix ending in />, got ${JSON.stringify(spec)}`);
    const { manifest, sha256 } = await store.readManifest(m[2]);
    const verdict = await store.verify(m[2], manifest, 'deep');
    if (!verdict.ok) throw new Error(`--start-from ${m[1]}: ${m[2]} does not verify (${verdict.reason})`);
    out[m[1]] = {
      bucket: store.bucket,
      runId: manifest.runId,
      stage: manifest.stage,
      step: manifest.step,
      prefix: m[2],
      manifestSha256: sha256,
    };
  }
  return out;
}

/** Per-stage reward curves (mean weighted reward per step) and the evaluations the stages started. */
async function stageSummaries(client: Client, runId: string, ctx: CliContext): Promise<string[]> {
  const evaluations: string[] = [];
  for (const s of ctx.config.stages.filter((x) => x.enabled)) {
    const p = await client.workflow
      .getHandle(stageWorkflowId(runId, s.stage))
      .query(stageProgressQuery)
      .catch(() => null);
    if (!p) continue;
    evaluations.push(...p.evaluations);
    const curve = p.recentRewards.map((r) => `${r.step}:${r.reward.toFixed(3)}`).join(' ');
    const first = p.recentRewards[0]?.reward;
    const last = p.recentRewards.at(-1)?.reward;
    const trend = first === undefined || last === undefined ? '' : ` (first ${first.toFixed(3)} → last ${last.toFixed(3)})`;
    console.log(`${stageKey(s.stage)} mean reward by step${trend}: ${curve}`);
  }
  return evaluations;
}

function printResult(result: PipelineResult): void {
  const table = makeTable(['stage', 'final checkpoint', 'step']);
  for (const [k, ref] of Object.entries(result.stages))
    table.push([k, ref ? `s3://${ref.bucket}/${ref.prefix}` : '-', ref?.step ?? '-']);
  console.log(table.toString());
  if (result.finalEvaluation)
    console.log(
      `final evaluation: ${result.finalEvaluation} (see \`realgen report ${evalKeyOfWorkflowId(result.finalEvaluation)}\`)`,
    );
}

interface RunOptions {
  config?: string;
  runId?: string;
  watch?: boolean;
  embeddedWorkers?: boolean;
  startFrom?: string[];
  finalEval: boolean;
  dryRun?: boolean;
  priority?: number;
}

/** The config of `run`: the positional form and `-c` are the same thing; both at once must agree. */
function runConfigFile(positional: string | undefined, opts: RunOptions): string {
  if (positional !== undefined && opts.config !== undefined && positional !== opts.config) {
    throw new Error(`run: the config was given twice (${positional} and -c ${opts.config}); give it once`);
  }
  return configFileOf(positional ?? opts.config);
}

async function startAndFollow(ctx: CliContext, runId: string, opts: RunOptions): Promise<void> {
  const input: PipelineInput = {
    runId,
    // --priority overrides the config's: the config travels in the input, so every stage and evaluation sees it.
    config: opts.priority === undefined ? ctx.config : { ...ctx.config, priority: opts.priority },
    configBaseDir: ctx.loaded.baseDir,
    configDigest: ctx.loaded.digest,
    startFrom: opts.startFrom?.length ? await resolveStartFrom(await ctx.store(), opts.startFrom) : {},
    evaluateFinal: opts.finalEval,
  };
  const client = await ctx.client();
  try {
    await client.workflow.start('realgenPipeline', {
      workflowId: runWorkflowId(runId),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [input],
      typedSearchAttributes: [{ key: RUN_ID, value: runId }],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new Error(`run ${runId} is already running (workflow ${runWorkflowId(runId)})`);
    throw err;
  }
  console.log(`started run ${runId} (workflow ${runWorkflowId(runId)}, config digest ${ctx.loaded.digest.slice(0, 12)})`);
  console.log(
    `endpoints: temporal ${ctx.config.temporal.address} (from ${ctx.sources.temporal}), s3 ${ctx.config.storage.endpoint} (from ${ctx.sources.s3})`,
  );
  if (!opts.watch && !opts.embeddedWorkers) {
    console.log(`watch it with: realgen status ${runId}`);
    return;
  }
  await followRun(client, runId, ctx.loaded);
  const result = (await client.workflow.getHandle(runWorkflowId(runId)).result()) as PipelineResult;
  printResult(result);
  const evaluations = [
    ...new Set([...(await stageSummaries(client, runId, ctx)), ...(result.finalEvaluation ? [result.finalEvaluation] : [])]),
  ];
  if (opts.embeddedWorkers && evaluations.length > 0) {
    // Evaluations outlive the run (ABANDON); with embedded workers they need this process until they finish.
    console.log(`waiting for ${evaluations.length} evaluation(s): ${evaluations.join(', ')}`);
    await Promise.all(
      evaluations.map((id) =>
        client.workflow
          .getHandle(id)
          .result()
          .catch((err: unknown) => console.error(`${id}: ${(err as Error).message}`)),
      ),
    );
  }
}

export function registerRunCommand(program: Command): void {
  addConfigOption(
    program
      .command('run')
      .description('validate a run config and start the RealGen pipeline on it (prepare data → stages 1-3 → evaluation)')
      .argument('[config]', 'run config (YAML); same as -c'),
  )
    .option('--run-id <id>', 'run id (default: <config name>-<time>)')
    .option('--watch', 'show per-stage progress until the run ends')
    .option(
      '--embedded-workers',
      'run the CPU and GPU workers inside this process (the one-machine mini world); with torch-trainer stages, ' +
        'also the reward service (on reward.service.listen, or a free port when taken)',
    )
    .option(
      '--start-from <stage=prefix...>',
      'warm-start a stage from a committed checkpoint, e.g. stage-2=runs/r1/stage-2/checkpoints/000000010/',
    )
    .option('--no-final-eval', 'skip the final RealBench evaluation')
    .option(
      '--priority <n>',
      "GPU queue priority, 1 (first) … 5 (last); overrides the config's `priority` (default 3)",
      (v: string) => {
        const n = intOption('--priority', 1)(v);
        if (n > 5) throw new Error(`--priority: expected an integer in [1, 5], got ${JSON.stringify(v)}`);
        return n;
      },
    )
    .option('--dry-run', 'print the command lines each GPU worker would launch, without contacting any server')
    .action(async (positional: string | undefined, opts: RunOptions) => {
      // Clients are built on first use: a dry run contacts no server.
      await withContext(runConfigFile(positional, opts), async (ctx) => {
        const runId = assertRunId(
          opts.runId ?? `${ctx.config.name}-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`,
        );
        if (opts.dryRun) {
          for (const line of describeLaunches(ctx.loaded, runId)) console.log(line);
        } else if (opts.embeddedWorkers) {
          // Torch-trainer stages score over HTTP: the one-machine run serves their rewards itself.
          await withEmbeddedRewardService(ctx.loaded, () =>
            ctx.withWorkers(['cpu', 'gpu'], () => startAndFollow(ctx, runId, opts)),
          );
        } else {
          await startAndFollow(ctx, runId, opts);
        }
      });
    });
}
