/**
 * The external-trainer adapter (protocol: docs/trainer-protocol.md): a protocol-following trainer process that
 * runs an upstream trainer which knows nothing about us — e.g. RealGen's `accelerate launch … scripts/
 * train_flux_fast_guard.py`, which loops forever, saves `<save_dir>/checkpoints/checkpoint-<global_step>/lora/`
 * every 10 epochs, restarts its counter at 0 on every warm start and never saves optimizer state.
 *
 * Started by the supervisor with `--job <job-spec.json>`, it
 *  - renders the stage's launch template (launch-template.ts) and starts the upstream in its own process group,
 *    its save dir being `<job.outputDir>/upstream`; a detached guardian kills that group if this process dies;
 *  - watches `<save dir>/<checkpointGlob>`; each complete folder is reported once, as a hard-linked (or copied)
 *    folder `<job.outputDir>/checkpoint-<step>/` holding the upstream files plus `realgen-external.json`
 *    ({step, stepOffset, upstreamStep, stepsPerEpoch, upstreamDir}), where
 *    step = stepOffset + upstreamStep / stepsPerEpoch and stepOffset = job.startStep (the resumed checkpoint's);
 *  - turns log lines into progress events (metricPatterns) and emits heartbeats while the upstream is alive and
 *    active (log lines or checkpoint writes within the stage's stall timeout);
 *  - stops the upstream (SIGTERM to its group, SIGKILL after a grace) once a checkpoint at or beyond
 *    job.stopAtStep is reported, at the wall-clock cap, or on our own SIGTERM; then reports any folder completed
 *    before the upstream exited and emits `done`. A folder half-written at exit is never reported;
 *  - reports an upstream that exits non-zero as `Crash` (or `OutOfMemory` when its stderr says CUDA out of
 *    memory), with the tail of its stderr.
 */
import { copyFile, link, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { validateConfig } from '../../configs/load';
import { freePort } from '../../infra/net/free-port';
import type { TrainerErrorKind } from '../../contracts/trainer-protocol';
import { spawnProcessGroup, startGroupGuardian, type ProcessGroup } from '../../infra/process/process-group';
import { emit, readJobSpec, TrainerFailure } from '../shared/protocol-io';
import { CheckpointWatcher, type CompleteFolder } from './checkpoint-watcher';
import { renderLaunch, slotProblem, TemplateError, upstreamMaxSteps, type ExternalTrainerConfig } from './launch-template';
import { MetricParser, MetricPatternError, withCombinedReward } from './metric-parser';

/** Written into every reported checkpoint folder; read back on resume to check the step offset. */
export const EXTERNAL_META_FILE = 'realgen-external.json';
export interface ExternalCheckpointMeta {
  protocol: 'realgen-external/1';
  /** Our step of this checkpoint. */
  step: number;
  /** Our step the upstream started from (the resumed checkpoint's, or 0). */
  stepOffset: number;
  /** The upstream's own counter in the folder name (restarts at 0 on every warm start). */
  upstreamStep: number;
  stepsPerEpoch: number;
  /** The folder under the upstream's save dir it was copied from. */
  upstreamDir: string;
}

const OOM = /CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|HIP out of memory/i;

function log(message: string): void {
  process.stderr.write(`[external-adapter] ${message}\n`);
}

/** Hard-links every file of `src` into `dest` (same layout), copying where a link is impossible. */
async function linkTree(src: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  for (const e of await readdir(src, { withFileTypes: true })) {
    const from = path.join(src, e.name);
    const to = path.join(dest, e.name);
    if (e.isDirectory()) await linkTree(from, to);
    else if (e.isFile()) {
      try {
        await link(from, to);
      } catch {
        await copyFile(from, to);
      }
    }
  }
}

async function readResumeMeta(resumeDir: string): Promise<ExternalCheckpointMeta | null> {
  try {
    return JSON.parse(await readFile(path.join(resumeDir, EXTERNAL_META_FILE), 'utf8')) as ExternalCheckpointMeta;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TrainerFailure('CheckpointCorrupt', `${path.join(resumeDir, EXTERNAL_META_FILE)}: ${(err as Error).message}`);
  }
}

async function main(): Promise<number> {
  let stopReason: 'budget' | 'wallclock' | 'signal' | null = null;
  let requestStop: (() => void) | null = null;
  process.on('SIGTERM', () => {
    log('SIGTERM: stopping the upstream trainer');
    stopReason ??= 'signal';
    requestStop?.();
  });

  const startedAt = Date.now();
  const job = readJobSpec();
  const valid = validateConfig(job.config);
  if (!valid.ok) throw new TrainerFailure('ConfigInvalid', valid.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  const config = valid.config;
  const stage = config.stages[job.stage - 1];
  if (!stage) throw new TrainerFailure('ConfigInvalid', `stages[${job.stage - 1}] does not exist`);
  if (stage.trainer.backend !== 'external')
    throw new TrainerFailure(
      'ConfigInvalid',
      `stages[${job.stage - 1}].trainer.backend is ${stage.trainer.backend}, not external`,
    );
  const trainer: ExternalTrainerConfig = stage.trainer;
  const where = `stages[${job.stage - 1}].trainer`;
  const slot = slotProblem(trainer, job.gpuIds);
  if (slot) throw new TrainerFailure('ConfigInvalid', `${where}: ${slot}`);

  // --- resume: the step offset is the resumed checkpoint's step ---
  const stepOffset = job.startStep;
  if (job.resumeDir !== null) {
    const meta = await readResumeMeta(job.resumeDir);
    if (meta !== null && meta.step !== job.startStep) {
      throw new TrainerFailure(
        'CheckpointCorrupt',
        `resume folder's ${EXTERNAL_META_FILE} says step ${meta.step}, the job says ${job.startStep}`,
      );
    }
  }

  // --- launch ---
  const upstreamDir = path.join(job.outputDir, 'upstream');
  await mkdir(upstreamDir, { recursive: true });
  let parser: MetricParser;
  let launch;
  try {
    parser = new MetricParser(trainer.metricPatterns);
    launch = renderLaunch(
      trainer,
      {
        gpus: job.gpuIds.join(','),
        numProcesses: String(trainer.numProcesses),
        outputDir: upstreamDir,
        maxSteps: String(upstreamMaxSteps(trainer, job.startStep, job.stopAtStep)),
        // Bound on all interfaces: the upstream's rendezvous listens on every address.
        port: String(await freePort('0.0.0.0')),
        resumePath: job.resumeDir,
      },
      job.configBaseDir,
      where,
    );
  } catch (err) {
    if (err instanceof TemplateError || err instanceof MetricPatternError) throw new TrainerFailure('ConfigInvalid', err.message);
    throw err;
  }
  if (stopReason === 'signal') {
    emit({ type: 'done', step: job.startStep, reason: 'signal' });
    return 0;
  }
  log(
    `starting ${[launch.command, ...launch.args].join(' ')}${launch.cwd ? ` (in ${launch.cwd})` : ''}; step offset ${stepOffset}, stop at ${job.stopAtStep}`,
  );
  let group: ProcessGroup;
  try {
    group = await spawnProcessGroup(launch.command, launch.args, {
      cwd: launch.cwd,
      // Unbuffered Python output, so metric lines arrive as they are printed.
      // REALGEN_RESUME_DIR: the resumed checkpoint's folder, for wrappers that resume from the environment
      // (upstream/realgen_config.py sets train.lora_path to <it>/lora).
      env: {
        ...process.env,
        PYTHONUNBUFFERED: '1',
        ...launch.env,
        CUDA_VISIBLE_DEVICES: job.gpuIds.join(','),
        ...(job.resumeDir !== null ? { REALGEN_RESUME_DIR: job.resumeDir } : {}),
      },
    });
  } catch (err) {
    throw new TrainerFailure(
      'ConfigInvalid',
      `${where}.command: cannot start ${JSON.stringify(launch.command)}${launch.cwd ? ` in ${launch.cwd}` : ''}: ${(err as Error).message}`,
    );
  }
  const { child } = group;
  const exited = group.exited.then((x) => ({ ...x, at: Date.now() }));
  // A detached guardian SIGKILLs the upstream's group if this adapter dies (the supervisor signals our group only).
  startGroupGuardian(group.leader);
  let alive = true;
  void exited.then(() => {
    alive = false;
  });

  // --- stopping the upstream (its loop never ends by itself) ---
  const graceMs = Math.max(1, Math.floor(config.workers.gpu.shutdownGraceSeconds * 0.6)) * 1000;
  let stopping = false;
  const stopUpstream = () => {
    if (stopping || !alive) return;
    stopping = true;
    void group.stop(graceMs, () => log(`upstream still running ${graceMs / 1000} s after SIGTERM; SIGKILL`));
  };
  requestStop = stopUpstream;
  if (stopReason === 'signal') stopUpstream();

  // --- our step, metrics, liveness ---
  let lastReported = job.startStep;
  let step = job.startStep;
  let lastActivity = Date.now();
  let pending: Record<string, number> = {};
  let pendingKeyed: string[] = [];
  const flush = () => {
    if (Object.keys(pending).length === 0) return;
    emit({ type: 'progress', step, metrics: withCombinedReward(pending, pendingKeyed) });
    pending = {};
    pendingKeyed = [];
  };
  const stderrTail: string[] = [];
  const onLine = (line: string, isErr: boolean) => {
    lastActivity = Date.now();
    process.stderr.write(`${line}\n`);
    if (isErr) {
      stderrTail.push(line);
      if (stderrTail.length > 40) stderrTail.shift();
    }
    const parsed = parser.parse(line);
    if (parsed === null) return;
    let next = step;
    if (parsed.upstreamStep !== null) next = stepOffset + Math.floor(parsed.upstreamStep / trainer.stepsPerEpoch);
    else if (parsed.epoch !== null) next = stepOffset + parsed.epoch;
    next = Math.max(next, lastReported);
    if (next !== step) {
      flush();
      step = next;
      if (Object.keys(parsed.metrics).length === 0) emit({ type: 'progress', step });
    }
    Object.assign(pending, parsed.metrics);
    for (const k of parsed.keyed) if (!pendingKeyed.includes(k)) pendingKeyed.push(k);
  };
  const outLines = createInterface({ input: child.stdout });
  const errLines = createInterface({ input: child.stderr });
  outLines.on('line', (l) => onLine(l, false));
  errLines.on('line', (l) => onLine(l, true));
  const streamsClosed = Promise.all([
    new Promise((r) => outLines.once('close', r)),
    new Promise((r) => errLines.once('close', r)),
  ]);

  const stallMs = stage.stallTimeoutSeconds * 1000;
  const heartbeatMs = Math.max(1000, Math.min(30_000, stallMs / 4));
  const timers = [
    setInterval(flush, 1000),
    setInterval(() => {
      // Liveness only while the upstream shows activity: a hung collective goes quiet and the supervisor's
      // watchdog ends it.
      if (alive && Date.now() - lastActivity < stallMs) emit({ type: 'heartbeat', note: 'upstream running' });
    }, heartbeatMs),
  ];

  // --- checkpoints ---
  const quietMs = trainer.quietPeriodSeconds * 1000;
  const watcher = new CheckpointWatcher({
    root: upstreamDir,
    glob: trainer.checkpointGlob,
    completeMarker: trainer.completeMarker,
    quietPeriodMs: quietMs,
  });
  const report = async (folder: CompleteFolder) => {
    if (folder.upstreamStep === null) {
      log(`skipping ${folder.rel}: no step number in its name`);
      return;
    }
    if (folder.upstreamStep % trainer.stepsPerEpoch !== 0)
      log(`warning: ${folder.rel} is not at an epoch boundary (stepsPerEpoch ${trainer.stepsPerEpoch})`);
    const ourStep = stepOffset + Math.floor(folder.upstreamStep / trainer.stepsPerEpoch);
    if (lastReported >= job.stopAtStep) {
      log(`skipping ${folder.rel} (step ${ourStep}): the segment already ended at step ${lastReported}`);
      return;
    }
    if (ourStep <= lastReported) {
      log(`skipping ${folder.rel}: step ${ourStep} is not after the last reported step ${lastReported}`);
      return;
    }
    const dest = path.join(job.outputDir, `checkpoint-${ourStep}`);
    await linkTree(folder.abs, dest);
    const meta: ExternalCheckpointMeta = {
      protocol: 'realgen-external/1',
      step: ourStep,
      stepOffset,
      upstreamStep: folder.upstreamStep,
      stepsPerEpoch: trainer.stepsPerEpoch,
      upstreamDir: folder.rel,
    };
    await writeFile(path.join(dest, EXTERNAL_META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
    lastReported = ourStep;
    if (ourStep > step) {
      flush();
      step = ourStep;
    }
    emit({ type: 'checkpoint', step: ourStep, dir: dest });
    log(`reported ${folder.rel} as step ${ourStep}`);
  };

  const pollMs = Math.max(50, Math.min(1000, quietMs / 4));
  const wallClockMs = job.wallClockSeconds * 1000;
  while (alive) {
    for (const folder of await watcher.scan()) await report(folder);
    if (watcher.lastActivity > lastActivity) lastActivity = watcher.lastActivity;
    if (stopReason === null && lastReported >= job.stopAtStep) {
      log(`step ${lastReported} reached the segment's end (${job.stopAtStep}); stopping the upstream`);
      stopReason = 'budget';
    }
    // Checkpoints not lining up with the segment end: past it by a save interval with nothing in sight.
    if (
      stopReason === null &&
      step >= job.stopAtStep + job.saveEvery &&
      watcher.pendingSteps().every((s) => stepOffset + Math.floor(s / trainer.stepsPerEpoch) < job.stopAtStep)
    ) {
      log(
        `step ${step} is past the segment's end (${job.stopAtStep}) with no checkpoint there; stopping (align budget.segmentSteps with the upstream's save frequency)`,
      );
      stopReason = 'budget';
    }
    if (stopReason === null && Date.now() - startedAt >= wallClockMs) {
      log('wall-clock cap reached; stopping the upstream');
      stopReason = 'wallclock';
    }
    if (stopReason !== null) stopUpstream();
    await Promise.race([exited, delay(pollMs)]);
  }

  const x = await exited;
  await Promise.race([streamsClosed, delay(2000)]);
  // Anything else left in the upstream's group goes too (e.g. dataloader workers), and is gone before we go on.
  await group.reap();
  for (const t of timers) clearInterval(t);
  flush();
  // Final scans, referenced to the exit time: only folders complete before the upstream ended count.
  for (let i = 0; i < 2; i++) {
    for (const folder of await watcher.scan(x.at)) await report(folder);
    if (i === 0) await delay(Math.min(200, pollMs));
  }

  if (stopReason !== null) {
    emit({ type: 'done', step: lastReported, reason: stopReason });
    return 0;
  }
  const tail = stderrTail.slice(-10).join('\n').slice(-2000);
  if (x.code === 0) {
    if (lastReported > job.startStep) {
      emit({ type: 'done', step: lastReported, reason: 'budget' });
      return 0;
    }
    throw new TrainerFailure(
      'Crash',
      `upstream exited 0 at step ${step} without a new checkpoint (segment ${job.startStep} → ${job.stopAtStep})${tail ? `; stderr: ${tail}` : ''}`,
    );
  }
  const how = x.signal ?? `code ${x.code}`;
  if (OOM.test(stderrTail.join('\n'))) throw new TrainerFailure('OutOfMemory', `upstream exited with ${how}: ${tail}`);
  throw new TrainerFailure('Crash', `upstream exited with ${how} at step ${step}${tail ? `; stderr: ${tail}` : ''}`);
}

main().then(
  (code) => {
    process.stdout.write('', () => process.exit(code));
  },
  (err: unknown) => {
    const kind: TrainerErrorKind = err instanceof TrainerFailure ? err.kind : 'Crash';
    emit({ type: 'error', kind, message: err instanceof Error ? err.message : String(err) });
    process.stdout.write('', () => process.exit(1));
  },
);
