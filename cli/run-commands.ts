/** `realgen run|status|pause|resume|set-max-steps|cancel|runs`: training runs on Temporal. */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { applyEnvOverrides, ConfigError, loadConfig, type LoadedConfig } from '../configs/load';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import { CheckpointStore } from '../infra/s3/checkpoint-store';
import { createS3Client, resolveS3Credentials } from '../infra/s3/s3-client';
import { assertRunId, evalKeyOfWorkflowId, runWorkflowId, stageKey, stageWorkflowId } from '../contracts/ids';
import type { PipelineInput, PipelineResult } from '../workflows/realgen-pipeline';
import { RUN_ID } from '../contracts/search-attributes';
import {
  pauseUpdate,
  pipelineProgressQuery,
  resumeUpdate,
  runPauseUpdate,
  runResumeUpdate,
  setMaxStepsUpdate,
  stageProgressQuery,
  type PipelineProgress,
  type StageProgress,
} from '../contracts/training-messages';
import { createWorker } from '../workers/create-workers';
import { createWorkerContext } from '../workers/worker-context';
import { describeLaunches } from './dry-run';
import { connectClient } from '../infra/temporal/temporal-client';
import { describeLiveness, segmentLiveness, type SegmentLiveness } from '../infra/temporal/segment-liveness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves `stage-2=<checkpoint prefix>` warm starts into references (reads and verifies each manifest). */
async function resolveStartFrom(loaded: LoadedConfig, specs: string[]): Promise<Record<string, CheckpointRef>> {
  if (specs.length === 0) return {};
  const config = applyEnvOverrides(loaded.config);
  const store = new CheckpointStore({ client: createS3Client(config.storage, resolveS3Credentials(config, loaded.baseDir)), bucket: config.storage.bucket });
  const out: Record<string, CheckpointRef> = {};
  for (const spec of specs) {
    const m = /^(stage-[123])=(.+\/)$/.exec(spec);
    if (!m?.[1] || !m[2]) throw new Error(`--start-from: expected stage-<n>=<checkpoint prefix ending in />, got ${JSON.stringify(spec)}`);
    const { manifest, sha256 } = await store.readManifest(m[2]);
    const verdict = await store.verify(m[2], manifest, 'deep');
    if (!verdict.ok) throw new Error(`--start-from ${m[1]}: ${m[2]} does not verify (${verdict.reason})`);
    out[m[1]] = { bucket: store.bucket, runId: manifest.runId, stage: manifest.stage, step: manifest.step, prefix: m[2], manifestSha256: sha256 };
  }
  return out;
}

async function pipelineProgress(
  client: Client,
  runId: string,
): Promise<{ pipeline: PipelineProgress; stage: StageProgress | null; status: string; segment: SegmentLiveness | null }> {
  const handle = client.workflow.getHandle(runWorkflowId(runId));
  const desc = await handle.describe();
  const pipeline = await handle.query(pipelineProgressQuery);
  let stage: StageProgress | null = null;
  let segment: SegmentLiveness | null = null;
  if (pipeline.currentStage !== null) {
    const stageWf = client.workflow.getHandle(stageWorkflowId(runId, pipeline.currentStage));
    stage = await stageWf.query(stageProgressQuery).catch(() => null);
    if (stage && stage.state !== 'done') segment = await segmentLiveness(stageWf, stage.heartbeatTimeoutSeconds ?? 120).catch(() => null);
  }
  // A paused run is not "RUNNING" to its operator: say since when it holds.
  const pausedSince = pipeline.pausedSince ?? stage?.pausedSince ?? null;
  const status = desc.status.name === 'RUNNING' && pausedSince ? `paused since ${pausedSince}` : desc.status.name;
  return { pipeline, stage, status, segment };
}

/** Watches a run with one progress bar per stage until it closes. */
async function watch(client: Client, runId: string, loaded: LoadedConfig): Promise<void> {
  const bars = new cliProgress.MultiBar(
    { format: ' {stage} |{bar}| {value}/{total} steps | {state} | reward {reward} | eta {eta_s}', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  const byStage = new Map<number, cliProgress.SingleBar>();
  for (const s of loaded.config.stages.filter((x) => x.enabled)) {
    byStage.set(s.stage, bars.create(s.budget.maxSteps, 0, { stage: stageKey(s.stage), state: 'waiting', reward: '-', eta_s: '-' }));
  }
  const handle = client.workflow.getHandle(runWorkflowId(runId));
  let closed = false;
  const done = handle.result().finally(() => (closed = true));
  done.catch(() => undefined);
  while (!closed) {
    const p = await pipelineProgress(client, runId).catch(() => null);
    if (p) {
      for (const [n, bar] of byStage) {
        if (p.pipeline.completed[stageKey(n)]) bar.update(bar.getTotal(), { stage: stageKey(n), state: 'done', eta_s: '0s' });
      }
      if (p.stage) {
        const bar = byStage.get(p.stage.stage);
        const reward = p.stage.recentRewards.at(-1)?.reward;
        bar?.setTotal(p.stage.maxSteps);
        bar?.update(p.stage.step, { stage: stageKey(p.stage.stage), state: p.stage.state, reward: reward === undefined ? '-' : reward.toFixed(4), eta_s: p.stage.etaSeconds === null ? '-' : `${p.stage.etaSeconds}s` });
      }
    }
    await Promise.race([done.catch(() => undefined), sleep(1000)]);
  }
  // The last stage finishes between two polls: show every completed stage as done.
  const result = (await done) as PipelineResult;
  for (const [n, bar] of byStage) if (result.stages[stageKey(n)]) bar.update(bar.getTotal(), { stage: stageKey(n), state: 'done', eta_s: '0s' });
  bars.stop();
}

/** Per-stage reward curves (mean weighted reward per step) and the evaluations the stages started. */
async function stageSummaries(client: Client, runId: string, loaded: LoadedConfig): Promise<string[]> {
  const evaluations: string[] = [];
  for (const s of loaded.config.stages.filter((x) => x.enabled)) {
    const p = await client.workflow.getHandle(stageWorkflowId(runId, s.stage)).query(stageProgressQuery).catch(() => null);
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
  const table = new Table({ head: ['stage', 'final checkpoint', 'step'] });
  for (const [k, ref] of Object.entries(result.stages)) table.push([k, ref ? `s3://${ref.bucket}/${ref.prefix}` : '-', ref?.step ?? '-']);
  console.log(table.toString());
  if (result.finalEvaluation) console.log(`final evaluation: ${result.finalEvaluation} (see \`realgen report ${evalKeyOfWorkflowId(result.finalEvaluation)}\`)`);
}

/** Sends an update to the running stage (or `--stage n`) of a run. */
async function stageHandle(client: Client, runId: string, stage?: string): Promise<WorkflowHandle> {
  if (stage !== undefined) return client.workflow.getHandle(stageWorkflowId(runId, Number(stage)));
  const p = await client.workflow.getHandle(runWorkflowId(runId)).query(pipelineProgressQuery);
  if (p.currentStage === null) throw new Error(`run ${runId} has no stage running (phase ${p.phase}); name one with --stage`);
  return client.workflow.getHandle(stageWorkflowId(runId, p.currentStage));
}

/** An update's validation error reads better than "Workflow Update failed". */
function updateError(err: unknown): Error {
  const cause = (err as { cause?: Error }).cause;
  return new Error(cause?.message ?? (err as Error).message);
}

export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description('validate a run config and start the RealGen pipeline on it (prepare data → stages 1-3 → evaluation)')
    .argument('<config>', 'run config (YAML)')
    .option('--run-id <id>', 'run id (default: <config name>-<time>)')
    .option('--watch', 'show per-stage progress until the run ends')
    .option('--embedded-workers', 'run the CPU and GPU workers inside this process (the one-machine mini world)')
    .option('--start-from <stage=prefix...>', 'warm-start a stage from a committed checkpoint, e.g. stage-2=runs/r1/stage-2/checkpoints/000000010/')
    .option('--no-final-eval', 'skip the final RealBench evaluation')
    .option('--dry-run', 'print the command lines each GPU worker would launch, without contacting any server')
    .action(async (file: string, opts: { runId?: string; watch?: boolean; embeddedWorkers?: boolean; startFrom?: string[]; finalEval: boolean; dryRun?: boolean }) => {
      let loaded: LoadedConfig;
      try {
        loaded = loadConfig(file);
      } catch (err) {
        if (err instanceof ConfigError) {
          console.error(err.message);
          process.exitCode = 1;
          return;
        }
        throw err;
      }
      const runId = assertRunId(opts.runId ?? `${loaded.config.name}-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`);
      if (opts.dryRun) {
        for (const line of describeLaunches(loaded, runId)) console.log(line);
        return;
      }
      const input: PipelineInput = {
        runId,
        config: loaded.config,
        configBaseDir: loaded.baseDir,
        configDigest: loaded.digest,
        startFrom: await resolveStartFrom(loaded, opts.startFrom ?? []),
        evaluateFinal: opts.finalEval,
      };
      const client = await connectClient(loaded);
      let workers: Worker[] = [];
      let running: Promise<unknown> = Promise.resolve();
      if (opts.embeddedWorkers) {
        const ctx = await createWorkerContext(file);
        workers = [await createWorker(ctx, 'cpu'), await createWorker(ctx, 'gpu')];
        running = Promise.all(workers.map((w) => w.run()));
      }
      try {
        try {
          await client.workflow.start('realgenPipeline', {
            workflowId: runWorkflowId(runId),
            taskQueue: loaded.config.taskQueues.cpu,
            args: [input],
            typedSearchAttributes: [{ key: RUN_ID, value: runId }],
          });
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) throw new Error(`run ${runId} is already running (workflow ${runWorkflowId(runId)})`);
          throw err;
        }
        console.log(`started run ${runId} (workflow ${runWorkflowId(runId)}, config digest ${loaded.digest.slice(0, 12)})`);
        if (opts.watch || opts.embeddedWorkers) {
          await watch(client, runId, loaded);
          const result = (await client.workflow.getHandle(runWorkflowId(runId)).result()) as PipelineResult;
          printResult(result);
          const evaluations = [...new Set([...(await stageSummaries(client, runId, loaded)), ...(result.finalEvaluation ? [result.finalEvaluation] : [])])];
          if (opts.embeddedWorkers && evaluations.length > 0) {
            // Evaluations outlive the run (ABANDON); with embedded workers they need this process until they finish.
            console.log(`waiting for ${evaluations.length} evaluation(s): ${evaluations.join(', ')}`);
            await Promise.all(evaluations.map((id) => client.workflow.getHandle(id).result().catch((err: unknown) => console.error(`${id}: ${(err as Error).message}`))));
          }
        } else {
          console.log(`watch it with: realgen status ${runId}`);
        }
      } finally {
        for (const w of workers) w.shutdown();
        await running;
        await client.connection.close();
      }
    });

  const clientFor = async (opts: { config: string }) => connectClient(loadConfig(opts.config));
  const configOption = ['-c, --config <file>', 'run config naming the Temporal endpoint', 'configs/mini.yaml'] as const;

  program
    .command('status')
    .description('progress of a run: phase, current stage, step, rewards, ETA')
    .argument('<run>', 'run id')
    .option(...configOption)
    .option('--json', 'print JSON')
    .action(async (runId: string, opts: { config: string; json?: boolean }) => {
      const client = await clientFor(opts);
      try {
        const p = await pipelineProgress(client, runId);
        if (opts.json) {
          console.log(JSON.stringify(p, null, 2));
          return;
        }
        console.log(`run ${runId}: ${p.status}, phase ${p.pipeline.phase}`);
        const table = new Table({ head: ['stage', 'state', 'step', 'last checkpoint', 'reward (last)', 'eta'] });
        for (const [k, ref] of Object.entries(p.pipeline.completed)) table.push([k, 'done', ref?.step ?? '-', ref?.prefix ?? '-', '-', '-']);
        if (p.stage) {
          const r = p.stage.recentRewards.at(-1);
          table.push([stageKey(p.stage.stage), p.stage.state, `${p.stage.step}/${p.stage.maxSteps}`, p.stage.lastCheckpoint?.prefix ?? '-', r ? r.reward.toFixed(4) : '-', p.stage.etaSeconds === null ? '-' : `${p.stage.etaSeconds}s`]);
        }
        console.log(table.toString());
        if (p.segment && p.stage?.state !== 'paused') console.log(`${stageKey(p.stage?.stage ?? 0)} segment: ${describeLiveness(p.segment)}`);
      } finally {
        await client.connection.close();
      }
    });

  const pauseCommands = [
    ['pause', 'hold the whole run: the trainer checkpoints and stops, nothing new starts'],
    ['resume', 'continue a paused run'],
  ] as const;
  for (const [name, description] of pauseCommands) {
    program
      .command(name)
      .description(description)
      .argument('<run>', 'run id')
      .option('--stage <n>', 'the stage (default: the one running)')
      .option(...configOption)
      .action(async (runId: string, opts: { config: string; stage?: string }) => {
        const client = await clientFor(opts);
        try {
          if (opts.stage === undefined) {
            // The pipeline holds the run (current stage, next stages, evaluations) and tells the running stage.
            const run = client.workflow.getHandle(runWorkflowId(runId));
            const ack = await run.executeUpdate(name === 'pause' ? runPauseUpdate : runResumeUpdate).catch((err: unknown) => {
              throw updateError(err);
            });
            const where = ack.stage === null ? '' : ` (stage-${ack.stage})`;
            console.log(`run ${runId}: ${ack.paused ? `paused since ${ack.pausedSince}` : 'resumed'}${where}`);
            return;
          }
          const handle = await stageHandle(client, runId, opts.stage);
          const send = name === 'pause' ? handle.executeUpdate(pauseUpdate) : handle.executeUpdate(resumeUpdate);
          const ack = await send.catch((err: unknown) => {
            throw updateError(err);
          });
          console.log(`${handle.workflowId}: ${ack.paused ? 'paused' : 'resumed'} at step ${ack.step}`);
        } finally {
          await client.connection.close();
        }
      });
  }

  program
    .command('set-max-steps')
    .description("change the running stage's step budget (not below the steps already completed)")
    .argument('<run>', 'run id')
    .argument('<steps>', 'new maxSteps')
    .option('--stage <n>', 'the stage (default: the one running)')
    .option(...configOption)
    .action(async (runId: string, steps: string, opts: { config: string; stage?: string }) => {
      const client = await clientFor(opts);
      try {
        const handle = await stageHandle(client, runId, opts.stage);
        const ack = await handle.executeUpdate(setMaxStepsUpdate, { args: [Number(steps)] }).catch((err: unknown) => {
          throw updateError(err);
        });
        console.log(`${handle.workflowId}: maxSteps ${ack.maxSteps}`);
      } finally {
        await client.connection.close();
      }
    });

  program
    .command('cancel')
    .description('cancel a run: the running trainer commits a checkpoint and stops')
    .argument('<run>', 'run id')
    .option(...configOption)
    .action(async (runId: string, opts: { config: string }) => {
      const client = await clientFor(opts);
      try {
        const handle = client.workflow.getHandle(runWorkflowId(runId));
        await handle.cancel();
        await handle.result().catch(() => undefined);
        console.log(`run ${runId}: ${(await handle.describe()).status.name}`);
      } finally {
        await client.connection.close();
      }
    });

  program
    .command('runs')
    .description('list runs (newest first)')
    .option(...configOption)
    .option('--limit <n>', 'rows', '20')
    .action(async (opts: { config: string; limit: string }) => {
      const client = await clientFor(opts);
      try {
        const table = new Table({ head: ['run', 'status', 'started', 'closed'] });
        let n = 0;
        for await (const wf of client.workflow.list({ query: `WorkflowType = 'realgenPipeline'` })) {
          table.push([wf.workflowId.replace(/^run\//, ''), wf.status.name, wf.startTime.toISOString(), wf.closeTime?.toISOString() ?? '-']);
          if (++n >= Number(opts.limit)) break;
        }
        console.log(table.toString());
      } finally {
        await client.connection.close();
      }
    });
}
