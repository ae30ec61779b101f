/**
 * The supervisor activity: runs one trainer segment under our protocol and makes it durable.
 *
 * - Every attempt resumes from `latestValidCheckpoint` (deep-verified), never from heartbeat details alone.
 * - The trainer runs in its own process group with CUDA_VISIBLE_DEVICES set to its slot's GPUs.
 * - Each reported checkpoint folder is uploaded and committed (manifest last) in order, then heartbeated.
 * - A local watchdog kills the group when no progress arrives within the stall timeout (`TrainerStalled`).
 * - Cancellation (workflow cancel, pause, worker shutdown) sends SIGTERM — the trainer checkpoints and exits — and
 *   SIGKILL after the grace period; pending commits finish before the attempt ends.
 */
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ApplicationFailure, Context, CancelledFailure } from '@temporalio/activity';
import type { RunConfig, StageConfig } from '../../configs/schema';
import { segmentHeartbeatSeconds } from '../../contracts/heartbeat-timeout';
import type { CheckpointRef } from '../../contracts/checkpoint-manifest';
import { spawnProcessGroup, type ProcessGroup } from '../../infra/process/process-group';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { realgenFailure, type FailureType } from '../../contracts/failures';
import {
  PROTOCOL,
  parseTrainerLine,
  type JobSpec,
  type TrainerErrorKind,
  type TrainerEvent,
} from '../../contracts/trainer-protocol';
import { heartbeat } from '../heartbeat';
import type { GpuPool } from './gpu-pool';
import { noticeLostAttempt } from './lost-attempt-notice';
import type { TrainerLauncher } from './trainer-launchers';
import { checkConfigChange } from './config-change-check';
import { listFiles } from './checkpoint-folder';
import { resolveTrainerSecrets } from './trainer-secrets';
import type { SegmentHeartbeat, TrainerSegmentInput, TrainerSegmentResult } from '../../contracts/trainer-segment';

export interface SupervisorDeps {
  store: CheckpointStore;
  /** Scratch space for job specs, resumed checkpoints and checkpoint folders. */
  workDir: string;
  gpuPool: GpuPool;
  launcher: TrainerLauncher;
  producer: { name: string; version: string };
  /** Seconds between SIGTERM and SIGKILL. */
  graceSeconds: number;
  /** Overrides for tests (e.g. a tiny stall timeout). */
  now?: () => number;
}

/** The failure each trainer error kind becomes; `satisfies` makes a new kind without a mapping a type error. */
const KIND_TO_FAILURE = {
  ConfigInvalid: 'ConfigInvalid',
  CheckpointCorrupt: 'CheckpointCorrupt',
  OutOfMemory: 'OutOfMemory',
  DatasetMissing: 'DatasetMissing',
  Crash: 'TrainerCrashed',
} as const satisfies Record<TrainerErrorKind, FailureType>;

/** First retry delay after a trainer failure; doubled per attempt up to `MAX_RETRY_DELAY_MS`. */
const FIRST_RETRY_DELAY_MS = 2000;
const MAX_RETRY_DELAY_MS = 120_000;

/**
 * A retryable failure of attempt `attempt`, carrying its own exponential backoff (2 s, 4 s, … 2 min). The workflow's
 * retry policy keeps a constant short interval for what the supervisor cannot report: a lost worker (heartbeat
 * timeout), so a killed worker's segment is retried within seconds however often it was retried before, while a
 * crash-looping trainer still backs off. Non-retryable failures and cancellation pass through unchanged.
 */
export function withTrainerBackoff(err: unknown, attempt: number): unknown {
  if (err instanceof CancelledFailure) return err;
  const nextRetryDelay = Math.min(FIRST_RETRY_DELAY_MS * 2 ** Math.max(0, attempt - 1), MAX_RETRY_DELAY_MS);
  if (err instanceof ApplicationFailure) {
    if (err.nonRetryable || err.nextRetryDelay != null) return err;
    return ApplicationFailure.create({
      type: err.type ?? undefined,
      message: err.message,
      details: err.details ?? undefined,
      cause: err.cause,
      nextRetryDelay,
    });
  }
  if (err instanceof Error && !(err as { failure?: unknown }).failure) {
    return ApplicationFailure.create({ type: err.name, message: err.message, cause: err, nextRetryDelay });
  }
  return err;
}

export function createTrainerSupervisor(deps: SupervisorDeps) {
  const supervisor = {
    async runTrainerSegment(input: TrainerSegmentInput): Promise<TrainerSegmentResult> {
      try {
        return await supervisor.runSegment(input);
      } catch (err) {
        throw withTrainerBackoff(err, Context.current().info.attempt);
      }
    },
    async runSegment(input: TrainerSegmentInput): Promise<TrainerSegmentResult> {
      const ctx = Context.current();
      const stageKey = `stage-${input.stage}`;
      const stageConfig = input.config.stages[input.stage - 1];
      if (stageConfig === undefined) throw realgenFailure('ConfigInvalid', `stages[${input.stage - 1}] does not exist`);
      const attemptDir = path.join(deps.workDir, input.runId, stageKey, `segment-${input.segment}-attempt-${ctx.info.attempt}`);
      await rm(attemptDir, { recursive: true, force: true });
      // Private: the job spec holds the run config (secret references only, but still nobody else's business).
      await mkdir(attemptDir, { recursive: true, mode: 0o700 });
      await chmod(attemptDir, 0o700);
      let lastBeat: SegmentHeartbeat = { step: 0, lastCheckpoint: null, phase: 'resolving' };
      const beat = (b: Partial<SegmentHeartbeat>) => {
        lastBeat = { ...lastBeat, ...b };
        heartbeat(lastBeat);
      };
      beat({});
      await noticeLostAttempt(input, (ctx.info.heartbeatDetails as Partial<SegmentHeartbeat> | undefined)?.step ?? null);
      // Liveness of this worker, whatever the trainer does (downloads, model load, uploads): the heartbeat timeout
      // only has to cover a few of these ticks, so a lost worker is noticed in seconds.
      const ticker = setInterval(() => beat({}), livenessTickMs(input.config, stageConfig));

      try {
        // --- resume from the newest valid checkpoint of this stage ---
        const latest = await deps.store.latestValidCheckpoint(input.runId, stageKey);
        for (const s of latest.skipped) ctx.log.warn('skipped checkpoint', { step: s.step, reason: s.reason });
        let lastCheckpoint = latest.ref;
        const startStep = latest.ref?.step ?? 0;
        const configChange = latest.ref ? await checkConfigChange(deps.store, latest.ref, input) : null;
        if (configChange) ctx.log.warn('resuming with a changed config (allowConfigChange)', configChange);
        beat({ step: startStep, lastCheckpoint: lastCheckpoint?.prefix ?? null });
        if (latest.ref && startStep < input.stopAtStep) {
          // Operators look for this line after a worker was lost or restarted.
          announce(`resuming ${stageKey} of ${input.runId} from checkpoint ${latest.ref.step} (step ${startStep})`, {
            runId: input.runId,
            stage: stageKey,
            step: startStep,
            checkpoint: latest.ref.prefix,
            attempt: ctx.info.attempt,
          });
        }
        if (startStep >= input.stopAtStep) {
          return { step: startStep, lastCheckpoint, committed: [], metrics: [], reason: 'resumed-complete', gpuSeconds: 0 };
        }
        let resumeDir: string | null = null;
        if (latest.ref) {
          resumeDir = path.join(attemptDir, 'resume');
          await deps.store.downloadCheckpoint(latest.ref, resumeDir);
        }
        const initDirs: Record<string, string> = {};
        for (const [key, ref] of Object.entries(input.initFrom)) {
          const dir = path.join(attemptDir, 'init', key);
          await deps.store.downloadCheckpoint(ref, dir);
          initDirs[key] = dir;
        }

        // --- job spec and launch ---
        const outputDir = path.join(attemptDir, 'out');
        await mkdir(outputDir, { recursive: true });
        // Stopped (pause, cancel) while resolving or downloading: do not start a trainer only to stop it.
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new CancelledFailure('cancelled');
        const gpuIds = await deps.gpuPool.acquire();
        const slotSince = Date.now();
        beat({ gpus: gpuIds });
        try {
          const job: JobSpec = {
            protocol: PROTOCOL,
            runId: input.runId,
            stage: input.stage,
            stageKey,
            segment: input.segment,
            attempt: ctx.info.attempt,
            config: input.config as unknown as Record<string, unknown>,
            configBaseDir: input.configBaseDir,
            configDigest: input.configDigest,
            startStep,
            stopAtStep: input.stopAtStep,
            wallClockSeconds: stageConfig.budget.segmentMinutes * 60,
            saveEvery: stageConfig.saveEvery,
            resumeDir,
            initDirs,
            outputDir,
            gpuIds,
            seed: input.config.seed,
          };
          const jobFile = path.join(attemptDir, 'job.json');
          await writeFile(jobFile, `${JSON.stringify(job, null, 2)}\n`, { mode: 0o600 });
          const launcher = deps.launcher(stageConfig.trainer, jobFile);
          const secrets = resolveTrainerSecrets(stageConfig.trainer, input.stage, input.configBaseDir);
          const launch = { ...launcher, env: { ...launcher.env, ...secrets } };
          const result = await superviseProcess({
            ctx,
            deps,
            input,
            stageKey,
            launch,
            jobFile,
            gpuIds,
            stallMs: stageConfig.stallTimeoutSeconds * 1000,
            startStep,
            lastCheckpoint,
            beat,
            configChange,
            setLast: (ref) => (lastCheckpoint = ref),
          });
          return { ...result, gpuSeconds: ((Date.now() - slotSince) / 1000) * Math.max(1, gpuIds.length) };
        } finally {
          deps.gpuPool.release(gpuIds);
        }
      } finally {
        clearInterval(ticker);
        await rm(attemptDir, { recursive: true, force: true });
      }
    },
  };
  return supervisor;
}

/** A third of the segment heartbeat timeout, at least one second. */
function livenessTickMs(config: RunConfig, stage: StageConfig): number {
  return Math.max(1000, Math.floor((segmentHeartbeatSeconds(config, stage) * 1000) / 3));
}

/** A log line for the operator, shown whatever REALGEN_LOG_LEVEL is (one JSON object, like the worker's other lines). */
function announce(msg: string, fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ ts: new Date().toISOString(), level: 'INFO', msg, ...fields }));
}

interface SuperviseArgs {
  ctx: Context;
  deps: SupervisorDeps;
  input: TrainerSegmentInput;
  stageKey: string;
  launch: ReturnType<TrainerLauncher>;
  jobFile: string;
  gpuIds: number[];
  stallMs: number;
  startStep: number;
  lastCheckpoint: CheckpointRef | null;
  beat: (b: Partial<SegmentHeartbeat>) => void;
  /** A config change accepted at resume, recorded in the first checkpoint this attempt commits. */
  configChange: { from: string; to: string; parentStep: number } | null;
  setLast: (ref: CheckpointRef) => void;
}

async function superviseProcess(a: SuperviseArgs): Promise<TrainerSegmentResult> {
  const { ctx, deps, input } = a;
  let group: ProcessGroup;
  try {
    // Its own process group, so the whole tree (accelerate, torchrun workers) is signalled and reaped together.
    group = await spawnProcessGroup(a.launch.command, a.launch.args, {
      cwd: a.launch.cwd,
      env: {
        ...process.env,
        ...a.launch.env,
        REALGEN_JOB_SPEC: a.jobFile,
        CUDA_VISIBLE_DEVICES: a.gpuIds.join(','),
      },
    });
  } catch (err) {
    throw realgenFailure('TrainerCrashed', `could not start ${a.launch.command}: ${(err as Error).message}`);
  }
  const { child, pid } = group;
  ctx.log.info('trainer started', { pid, command: a.launch.command, gpus: a.gpuIds.join(',') });

  let step = a.startStep;
  let lastCheckpoint = a.lastCheckpoint;
  const committed: CheckpointRef[] = [];
  const metrics: TrainerSegmentResult['metrics'] = [];
  let done: Extract<TrainerEvent, { type: 'done' }> | null = null;
  let reportedError: Extract<TrainerEvent, { type: 'error' }> | null = null;
  let commitError: unknown = null;
  let stalled = false;
  let stopping = false;
  const stderrTail: string[] = [];
  let commits: Promise<void> = Promise.resolve();

  const stopGroup = () => {
    if (stopping) return;
    stopping = true;
    a.beat({ phase: 'stopping' });
    void group.stop(deps.graceSeconds * 1000);
  };

  // --- watchdog: progress must keep coming ---
  let watchdog: NodeJS.Timeout | undefined;
  const armWatchdog = () => {
    if (watchdog) clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      stalled = true;
      ctx.log.warn('trainer stalled; killing its process group', { pid, stallSeconds: a.stallMs / 1000 });
      group.signal('SIGKILL');
    }, a.stallMs);
  };
  armWatchdog();

  // --- cancellation (workflow cancel, pause, worker shutdown) ---
  let cancelError: unknown = null;
  const onCancel = () => {
    cancelError = ctx.cancellationSignal.reason ?? new CancelledFailure('cancelled');
    ctx.log.info('cancellation requested; asking the trainer to checkpoint and exit', { pid });
    stopGroup();
  };
  if (ctx.cancellationSignal.aborted) onCancel();
  else ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });

  const commit = (event: Extract<TrainerEvent, { type: 'checkpoint' }>) => {
    commits = commits.then(async () => {
      if (commitError) return;
      try {
        a.beat({ phase: 'committing' });
        ctx.log.info('committing checkpoint', { step: event.step });
        const dir = path.resolve(event.dir);
        const st = await stat(dir).catch(() => null);
        if (!st?.isDirectory())
          throw realgenFailure('TrainerCrashed', `trainer reported checkpoint folder ${event.dir}, which does not exist`);
        const files = await listFiles(dir);
        const { ref } = await deps.store.commitCheckpoint({
          runId: input.runId,
          stage: a.stageKey,
          step: event.step,
          files: files.map((f) => ({ path: f, localPath: path.join(dir, ...f.split('/')) })),
          configDigest: input.configDigest,
          parent: lastCheckpoint ? { step: lastCheckpoint.step, manifestSha256: lastCheckpoint.manifestSha256 } : null,
          producer: deps.producer,
          meta: {
            segment: input.segment,
            attempt: ctx.info.attempt,
            ...(a.configChange && committed.length === 0 ? { configChange: a.configChange } : {}),
          },
          onFileUploaded: () => a.beat({}),
        });
        lastCheckpoint = ref;
        a.setLast(ref);
        committed.push(ref);
        await rm(dir, { recursive: true, force: true });
        a.beat({ phase: 'running', lastCheckpoint: ref.prefix, step: Math.max(step, ref.step) });
        ctx.log.info('checkpoint committed', { step: ref.step, prefix: ref.prefix });
      } catch (err) {
        commitError = err;
        ctx.log.error('checkpoint commit failed; stopping the trainer', { error: (err as Error).message });
        group.signal('SIGKILL');
      }
    });
  };

  const lines = createInterface({ input: child.stdout });
  const linesClosed = new Promise<void>((resolve) => lines.once('close', () => resolve()));
  lines.on('line', (line) => {
    const event = parseTrainerLine(line);
    if (event === null) {
      ctx.log.debug('trainer', { line: line.slice(0, 500) });
      return;
    }
    if ('invalid' in event) {
      ctx.log.warn('malformed trainer event', { problem: event.invalid });
      return;
    }
    switch (event.type) {
      case 'progress':
        step = event.step;
        if (event.metrics) {
          metrics.push({ step: event.step, metrics: event.metrics });
          if (metrics.length > 200) metrics.shift();
        }
        armWatchdog();
        a.beat({
          step,
          phase: stopping ? 'stopping' : 'running',
          ...(typeof event.metrics?.reward === 'number' ? { reward: { step, value: event.metrics.reward } } : {}),
        });
        break;
      case 'heartbeat':
        armWatchdog();
        a.beat({});
        break;
      case 'checkpoint':
        armWatchdog();
        commit(event);
        break;
      case 'done':
        done = event;
        break;
      case 'error':
        reportedError = event;
        break;
    }
  });
  const errLines = createInterface({ input: child.stderr });
  errLines.on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 40) stderrTail.shift();
  });

  const { code, signal } = await group.exited;
  if (watchdog) clearTimeout(watchdog);
  ctx.cancellationSignal.removeEventListener('abort', onCancel);
  // Anything the trainer left behind in its group is ended too, and we wait until it is gone.
  await group.reap();
  await linesClosed;
  await commits;

  if (commitError) throw commitError;
  if (cancelError) throw cancelError;
  if (stalled) {
    throw realgenFailure('TrainerStalled', `no progress for ${a.stallMs / 1000} s; process group ${pid} killed`, { step });
  }
  const errorEvent = reportedError as Extract<TrainerEvent, { type: 'error' }> | null;
  if (errorEvent) {
    throw realgenFailure(KIND_TO_FAILURE[errorEvent.kind], `trainer reported ${errorEvent.kind}: ${errorEvent.message}`);
  }
  const doneEvent = done as Extract<TrainerEvent, { type: 'done' }> | null;
  if (code !== 0 || doneEvent === null) {
    const tail = stderrTail.slice(-5).join(' | ').slice(0, 800);
    throw realgenFailure(
      'TrainerCrashed',
      `trainer exited with ${signal ?? `code ${code}`} before reporting done${tail ? `; stderr: ${tail}` : ''}`,
    );
  }
  const finalStep = lastCheckpoint?.step ?? a.startStep;
  return {
    step: finalStep,
    lastCheckpoint,
    committed,
    metrics,
    reason: doneEvent.reason === 'wallclock' ? 'wallclock' : 'budget',
  };
}

export type TrainerSupervisorActivities = ReturnType<typeof createTrainerSupervisor>;
