/**
 * The external-trainer adapter: template rendering, checkpoint-folder completeness and metric parsing (unit), then
 * the adapter under the real supervisor (MockActivityEnvironment, real MinIO) and a stage workflow on the real
 * Temporal, all with a fixture that follows RealGen's stage-2 script conventions (upstream-flow-grpo.mjs): endless
 * loop, `checkpoints/checkpoint-<global_step>/lora/`, global_step restarting at 0 on each warm start.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { defaultLauncher, externalLauncher } from '../../activities/training/external-launcher';
import { GpuPool } from '../../activities/training/gpu-pool';
import { builtinLauncher } from '../../activities/training/trainer-launchers';
import { createTrainerSupervisor } from '../../activities/training/trainer-supervisor';
import type { TrainerSegmentInput, TrainerSegmentResult } from '../../contracts/trainer-segment';
import { loadConfig } from '../../configs/load';
import type { RunConfig, StageConfig } from '../../configs/schema';
import { checkpointPrefix, type CheckpointRef } from '../../contracts/checkpoint-manifest';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { CheckpointWatcher, globSegments, upstreamStepOf } from '../../trainers/external/checkpoint-watcher';
import {
  renderLaunch,
  TemplateError,
  validateTemplate,
  type ExternalTrainerConfig,
  type TemplateValues,
} from '../../trainers/external/launch-template';
import type { ExternalCheckpointMeta } from '../../trainers/external/main';
import { MetricParser, withCombinedReward } from '../../trainers/external/metric-parser';
import { stageWorkflowId } from '../../contracts/ids';
import type { TrainStageResult } from '../../workflows/train-stage';
import { createWorker } from '../../workers/create-workers';
import { createWorkerContext, type WorkerContext } from '../../workers/worker-context';
import { freshStore, testConfigFile } from '../helpers/stack';
import { testClient } from '../helpers/temporal';

const repo = path.resolve(__dirname, '..', '..');
const UPSTREAM = path.join(repo, 'test', 'fixtures', 'trainers', 'upstream-flow-grpo.mjs');
const PAPER_REWARD_PATTERN = 'reward_(?<key>\\w+)[=:]\\s*(?<value>-?[0-9.eE+-]+)';
const tmp = (label: string) => mkdtempSync(path.join(os.tmpdir(), `realgen-ext-${label}-`));

/** The stage-2 trainer block of paper-8xh200.yaml, pointed at the fixture instead of accelerate. */
function fixtureTrainer(env: Record<string, string> = {}, extra: Partial<ExternalTrainerConfig> = {}): ExternalTrainerConfig {
  return {
    backend: 'external',
    command: process.execPath,
    args: [
      UPSTREAM,
      '--config=config/grpo.py:flux_fast_guard',
      '--num_processes={numProcesses}',
      '--main_process_port={port}',
      '--config.save_dir={outputDir}',
      '--config.save_freq=2',
    ],
    // The fixture's knobs are declared non-secret ({ plain }): only known setting names may be bare strings.
    env: {
      WANDB_MODE: 'offline',
      ...Object.fromEntries(Object.entries({ FLOW_GRPO_EPOCH_MS: '80', ...env }).map(([k, v]) => [k, { plain: v }])),
    },
    numProcesses: 1,
    checkpointGlob: 'checkpoints/checkpoint-*',
    quietPeriodSeconds: 1,
    resumeArg: '--config.train.lora_path={resumePath}/lora',
    stepsPerEpoch: 2,
    metricPatterns: [PAPER_REWARD_PATTERN, 'clipfrac=(?<clipfrac>[-0-9.eE+]+)', 'approx_kl=(?<approx_kl>[-0-9.eE+]+)'],
    ...extra,
  };
}

function upstreamProcesses(): string[] {
  try {
    return execFileSync('pgrep', ['-f', 'upstream-flow-grpo.mjs'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

async function noUpstreamLeft(ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (upstreamProcesses().length > 0 && Date.now() < deadline) await delay(100);
  assert.deepEqual(upstreamProcesses(), [], 'no upstream trainer process is left');
}

/** `epochs_total` of the fixture's weights in a downloaded checkpoint: how many epochs the LoRA has really seen. */
function epochsTrained(dir: string): number {
  const buf = readFileSync(path.join(dir, 'lora', 'adapter_model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  return Number(
    (JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as { __metadata__: { epochs_total: string } }).__metadata__.epochs_total,
  );
}

// ---------------------------------------------------------------- unit tests

describe('launch template', () => {
  const values: TemplateValues = {
    gpus: '0,1,2,3,4,5,6',
    numProcesses: '7',
    outputDir: '/w/out/upstream',
    maxSteps: '100',
    port: '29517',
    resumePath: null,
  };
  const paper = loadConfig(path.join(repo, 'configs', 'paper-8xh200-upstream.yaml')).config.stages[1]!
    .trainer as ExternalTrainerConfig;
  const wrappers = path.join(repo, 'trainers', 'external', 'upstream');

  it('renders the paper stage-2 line and its resume variant', () => {
    const fresh = renderLaunch(paper, values, '/cfg');
    assert.equal(fresh.command, 'accelerate');
    assert.deepEqual(fresh.args, [
      'launch',
      '--config_file=scripts/accelerate_configs/deepspeed_zero2.yaml',
      '--num_processes=7',
      '--main_process_port=29517',
      `${wrappers}/realgen_metrics.py`,
      'scripts/train_flux_fast_guard.py',
      `--config=${wrappers}/realgen_config.py:flux_fast_guard`,
      '--config.save_dir=/w/out/upstream',
    ]);
    assert.equal(fresh.cwd, '/opt/RealGen/RealGen_v1/flow_grpo');
    assert.deepEqual(fresh.env, { WANDB_MODE: 'offline', REALGEN_UPSTREAM_CONFIG: 'config/grpo.py' });
    const resumed = renderLaunch(paper, { ...values, resumePath: '/w/resume' }, '/cfg');
    assert.equal(resumed.args.at(-1), '--config.train.lora_path=/w/resume/lora');
  });

  it('names an unknown placeholder, a misplaced {resumePath} and bad braces', () => {
    const t = (args: string[], extra: Partial<ExternalTrainerConfig> = {}) => fixtureTrainer({}, { args, ...extra });
    assert.throws(
      () => renderLaunch(t(['--nproc={nprocs}']), values, '/'),
      (e: Error) =>
        e instanceof TemplateError &&
        /trainer\.args\[0\]: unknown placeholder \{nprocs\}/.test(e.message) &&
        /\{numProcesses\}/.test(e.message),
    );
    assert.throws(
      () => renderLaunch(t(['--lora={resumePath}']), values, '/'),
      /unknown placeholder \{resumePath\}.*only available in resumeArg/,
    );
    assert.throws(() => renderLaunch(t(['--x={gpus']), values, '/'), /unclosed "\{"/);
    assert.throws(() => renderLaunch(t(['--x=}']), values, '/'), /stray "\}"/);
    assert.throws(
      () => renderLaunch(t([], { resumeArg: '--from={resume}' }), { ...values, resumePath: '/r' }, '/'),
      /resumeArg: unknown placeholder \{resume\}/,
    );
    assert.throws(
      () => renderLaunch(t([], { resumeArg: undefined }), { ...values, resumePath: '/r' }, '/'),
      /resumeArg is not set/,
    );
    assert.deepEqual(renderLaunch(t(['{{literal}}', '{gpus}/{numProcesses}/{maxSteps}']), values, '/').args, [
      '{literal}',
      '0,1,2,3,4,5,6/7/100',
    ]);
    assert.deepEqual(
      validateTemplate(t(['{bogus}'], { env: { A: '{port}', B: '{nope}' }, metricPatterns: ['(unclosed'] })).length,
      3,
    );
  });

  it('picks the launcher by backend', () => {
    const ext = defaultLauncher(fixtureTrainer(), '/j.json');
    assert.ok(ext.args.some((a) => a.endsWith(path.join('trainers', 'external', 'main.ts'))));
    assert.deepEqual(ext, externalLauncher(fixtureTrainer(), '/j.json'));
    const builtin: StageConfig['trainer'] = { backend: 'builtin' };
    assert.deepEqual(defaultLauncher(builtin, '/j.json'), builtinLauncher(builtin, '/j.json'));
    const torch = loadConfig(path.join(repo, 'configs', 'mini-torch.yaml')).config.stages[1]!.trainer;
    const venv = mkdtempSync(path.join(os.tmpdir(), 'realgen-tools-'));
    const saved = process.env.REALGEN_TOOLS_DIR;
    process.env.REALGEN_TOOLS_DIR = venv;
    try {
      // No venv in that tools folder: a non-retryable ConfigInvalid that says how to install it.
      assert.throws(
        () => defaultLauncher(torch, '/j.json'),
        (e: Error & { type?: string; nonRetryable?: boolean }) =>
          e.type === 'ConfigInvalid' &&
          e.nonRetryable === true &&
          e.message.includes(path.join(venv, 'torch-venv', 'bin', 'python')) &&
          e.message.includes('scripts/install-python.sh'),
      );
      mkdirSync(path.join(venv, 'torch-venv', 'bin'), { recursive: true });
      writeFileSync(path.join(venv, 'torch-venv', 'bin', 'python'), '');
      const t = defaultLauncher(torch, '/j.json');
      assert.equal(t.command, path.join(venv, 'torch-venv', 'bin', 'python'));
      assert.deepEqual(t.args, ['-m', 'realgen_torch.train', '--job', '/j.json']);
      assert.equal(t.env?.PYTHONPATH?.split(path.delimiter)[0], path.join(repo, 'trainers', 'torch'));
    } finally {
      if (saved === undefined) delete process.env.REALGEN_TOOLS_DIR;
      else process.env.REALGEN_TOOLS_DIR = saved;
    }
  });
});

describe('checkpoint watcher', () => {
  it('globs folders and reads the upstream step from the name', () => {
    assert.equal(upstreamStepOf('checkpoints/checkpoint-120'), 120);
    assert.equal(upstreamStepOf('checkpoints/final'), null);
    assert.throws(() => globSegments('../x'), /inside the output folder/);
  });

  it('marker mode: complete once the marker exists and the folder stopped changing; reported once', async () => {
    const root = tmp('marker');
    let now = 1_000_000;
    const w = new CheckpointWatcher({
      root,
      glob: 'checkpoints/checkpoint-*',
      completeMarker: 'lora/adapter_config.json',
      quietPeriodMs: 3_600_000,
      now: () => now,
    });
    const dir = path.join(root, 'checkpoints', 'checkpoint-20', 'lora');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'adapter_model.safetensors'), 'weights');
    assert.deepEqual(await w.scan(), []);
    now += 10;
    assert.deepEqual(await w.scan(), [], 'weights alone: half-written');
    writeFileSync(path.join(dir, 'adapter_config.json'), '{}');
    assert.deepEqual(await w.scan(), [], 'just changed');
    const done = await w.scan();
    assert.deepEqual(
      done.map((f) => [f.rel, f.upstreamStep]),
      [['checkpoints/checkpoint-20', 20]],
    );
    assert.deepEqual(await w.scan(), [], 'reported once');
    mkdirSync(path.join(root, 'checkpoints', 'other-file-not-dir'), { recursive: true });
    assert.deepEqual(await w.scan(), []);
  });

  it('quiet mode: a poll delayed past the trainer exit still dates a change by its files, not by the late scan', async () => {
    const root = tmp('quiet-late');
    const t0 = Date.now() - 60_000;
    let now = t0;
    const w = new CheckpointWatcher({ root, glob: 'checkpoints/checkpoint-*', quietPeriodMs: 1000, now: () => now });
    const dir = path.join(root, 'checkpoints', 'checkpoint-4', 'lora');
    mkdirSync(dir, { recursive: true });
    const weights = path.join(dir, 'adapter_model.safetensors');
    writeFileSync(weights, 'w');
    utimesSync(weights, new Date(t0), new Date(t0));
    assert.deepEqual(await w.scan(), [], 'half-written at the first scan');
    // The trainer finishes the folder 200 ms later, and dies 2.4 s after that; the next poll comes only after the
    // exit (a loaded machine), so the final scans referenced to the exit time must still find the folder complete.
    const config = path.join(dir, 'adapter_config.json');
    writeFileSync(config, '{}');
    utimesSync(config, new Date(t0 + 200), new Date(t0 + 200));
    const exitAt = t0 + 2600;
    now = t0 + 5000;
    assert.deepEqual(await w.scan(exitAt), [], 'changed since the last scan: one more scan');
    now += 100;
    assert.deepEqual(
      (await w.scan(exitAt)).map((f) => f.upstreamStep),
      [4],
      'quiet for 2.4 s before the exit',
    );
  });

  it('quiet mode: complete after the quiet period; a folder written up to the exit never is', async () => {
    const root = tmp('quiet');
    let now = Date.now();
    const w = new CheckpointWatcher({ root, glob: 'checkpoints/checkpoint-*', quietPeriodMs: 5000, now: () => now });
    const a = path.join(root, 'checkpoints', 'checkpoint-4', 'lora');
    mkdirSync(a, { recursive: true });
    writeFileSync(path.join(a, 'adapter_model.safetensors'), 'w');
    const old = new Date(now - 60_000);
    utimesSync(path.join(a, 'adapter_model.safetensors'), old, old);
    assert.deepEqual(await w.scan(), [], 'needs two scans with the same content');
    now += 100;
    assert.deepEqual(
      (await w.scan()).map((f) => f.upstreamStep),
      [4],
      'written a minute ago: quiet',
    );
    // A second folder keeps growing, then the trainer dies right after its last write.
    const b = path.join(root, 'checkpoints', 'checkpoint-8', 'lora');
    mkdirSync(b, { recursive: true });
    for (let i = 0; i < 3; i++) {
      writeFileSync(path.join(b, 'adapter_model.safetensors'), 'x'.repeat(10 * (i + 1)));
      now = Math.max(now + 3000, Date.now());
      assert.deepEqual(await w.scan(), []);
    }
    const exitAt = now;
    now += 60_000;
    assert.deepEqual(await w.scan(exitAt), [], 'referenced to the exit time: still changing then');
    assert.deepEqual(await w.scan(exitAt), []);
    assert.deepEqual(w.pendingSteps(), [8]);
  });
});

describe('metric parser', () => {
  const line =
    'Epoch 3, global_step 8: reward_forensic_chat=0.4123 reward_omniaid=0.3811 reward_longclip=0.2765 reward_avg=0.3566 zero_std_ratio=0.0000 clipfrac=0.01230 approx_kl=1.234e-06';

  it('reads key/value groups, named groups and the global_step', () => {
    const p = new MetricParser([
      PAPER_REWARD_PATTERN,
      'clipfrac=(?<clipfrac>[-0-9.eE+]+)',
      'approx_kl=(?<approx_kl>[-0-9.eE+]+)',
    ]);
    const r = p.parse(line)!;
    assert.deepEqual(r.metrics, {
      forensic_chat: 0.4123,
      omniaid: 0.3811,
      longclip: 0.2765,
      avg: 0.3566,
      clipfrac: 0.0123,
      approx_kl: 1.234e-6,
    });
    assert.deepEqual(r.keyed, ['forensic_chat', 'omniaid', 'longclip', 'avg']);
    assert.equal(r.upstreamStep, 8);
    assert.equal(withCombinedReward(r.metrics, r.keyed).reward, 0.3566);
    assert.equal(withCombinedReward({ a: 1, b: 3 }, ['a', 'b']).reward, 2);
    assert.equal(withCombinedReward({ reward: 7, a: 1 }, ['a']).reward, 7);
    assert.equal(p.parse('Epoch 4: sampling:  50%|█████     | 12/24'), null);
  });

  it('honours step and epoch groups, ignores non-numbers, and rejects bad regexes with their index', () => {
    const p = new MetricParser(['it (?<step>\\d+)/', 'loss=(?<loss>\\S+)']);
    assert.deepEqual(p.parse('it 40/100 loss=nan'), { metrics: {}, keyed: [], upstreamStep: 40, epoch: null });
    assert.equal(new MetricParser(['epoch (?<epoch>\\d+)']).parse('epoch 7 done')?.epoch, 7);
    assert.throws(() => new MetricParser(['ok', '(?<x>']), /metricPatterns\[1\]: invalid regular expression/);
  });
});

// ---------------------------------------------------------------- the adapter under the supervisor (real MinIO)

const mini = loadConfig(path.join(repo, 'configs', 'mini.yaml'));

function runConfig(trainer: ExternalTrainerConfig, stall = 60): RunConfig {
  const c = structuredClone(mini.config);
  const s = c.stages[0]!;
  s.trainer = trainer;
  s.saveEvery = 2;
  s.evalEvery = 2;
  s.stallTimeoutSeconds = stall;
  c.workers.gpu.shutdownGraceSeconds = 5;
  return c;
}

describe('external adapter under the supervisor (real MinIO, flow_grpo fixture)', () => {
  let store: CheckpointStore;
  before(async () => {
    store = await freshStore('ext');
  });
  after(async () => {
    await noUpstreamLeft();
  });

  const supervisor = () =>
    createTrainerSupervisor({
      store,
      workDir: tmp('sup'),
      gpuPool: new GpuPool([], 1, 1),
      launcher: defaultLauncher,
      producer: { name: 'test', version: '1' },
      graceSeconds: 5,
    });
  const input = (runId: string, stopAtStep: number, trainer: ExternalTrainerConfig, stall?: number): TrainerSegmentInput => ({
    runId,
    stage: 1,
    segment: 0,
    config: runConfig(trainer, stall),
    configBaseDir: mini.baseDir,
    configDigest: mini.digest,
    stopAtStep,
    initFrom: {},
  });
  const download = async (ref: CheckpointRef) => {
    const dir = tmp('dl');
    await store.downloadCheckpoint(ref, dir);
    return { dir, meta: JSON.parse(readFileSync(path.join(dir, 'realgen-external.json'), 'utf8')) as ExternalCheckpointMeta };
  };

  it('runs to the budget, commits each upstream checkpoint once with our step, then warm-starts with the right offset', async () => {
    const argsFile = path.join(tmp('args'), 'args.jsonl');
    const trainer = fixtureTrainer({ FLOW_GRPO_ARGS_FILE: argsFile }, { completeMarker: 'lora/adapter_config.json' });
    const first = (await new MockActivityEnvironment().run(
      supervisor().runTrainerSegment,
      input('ext-a', 4, trainer),
    )) as TrainerSegmentResult;
    assert.equal(first.reason, 'budget');
    assert.equal(first.step, 4);
    assert.deepEqual(
      first.committed.map((c) => c.step),
      [2, 4],
    );
    const { manifest } = await store.readManifest(first.lastCheckpoint!.prefix);
    assert.deepEqual(
      manifest.files.map((f) => f.path),
      ['lora/adapter_config.json', 'lora/adapter_model.safetensors', 'realgen-external.json'],
    );
    const m = first.metrics.find((x) => x.metrics.forensic_chat !== undefined)!;
    assert.ok(
      m.metrics.reward !== undefined && m.metrics.clipfrac !== undefined && m.metrics.approx_kl !== undefined,
      JSON.stringify(m),
    );
    const a = await download(first.lastCheckpoint!);
    assert.deepEqual(
      [a.meta.step, a.meta.stepOffset, a.meta.upstreamStep, a.meta.upstreamDir],
      [4, 0, 8, 'checkpoints/checkpoint-8'],
    );
    assert.equal(epochsTrained(a.dir), 4);

    // Next segment: a warm start from step 4; the upstream counts from 0 again.
    const second = (await new MockActivityEnvironment().run(
      supervisor().runTrainerSegment,
      input('ext-a', 8, trainer),
    )) as TrainerSegmentResult;
    assert.deepEqual(
      second.committed.map((c) => c.step),
      [6, 8],
    );
    const b = await download(second.lastCheckpoint!);
    assert.deepEqual([b.meta.step, b.meta.stepOffset, b.meta.upstreamStep], [8, 4, 8]);
    assert.equal(epochsTrained(b.dir), 8, 'the LoRA saw 8 epochs: the offset is right');
    assert.deepEqual(await store.listCheckpointSteps('ext-a', 'stage-1'), [8, 6, 4, 2]);
    const launches = readFileSync(argsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { argv: string[] });
    assert.equal(launches.length, 2);
    assert.ok(!launches[0]!.argv.some((x) => x.startsWith('--config.train.lora_path=')));
    assert.match(launches[1]!.argv.at(-1)!, /^--config\.train\.lora_path=.*\/resume\/lora$/);
    assert.ok(launches[0]!.argv.some((x) => /^--main_process_port=\d+$/.test(x) && x !== '--main_process_port=0'));
    await noUpstreamLeft();
  });

  it('never commits a half-written folder; the retry warm-starts from the latest committed checkpoint', async () => {
    const once = path.join(tmp('once'), 'crashed');
    // Quiet-period mode (no marker). global_step 8 = our step 4: the upstream writes the weights, then dies before
    // adapter_config.json. Epochs of 0.6 s leave checkpoint-4 quiet (1 s) before the crash, checkpoint-8 not.
    const trainer = fixtureTrainer({ FLOW_GRPO_HALF_WRITE_AT: '8', FLOW_GRPO_HALF_WRITE_ONCE: once, FLOW_GRPO_EPOCH_MS: '600' });
    await assert.rejects(
      new MockActivityEnvironment().run(supervisor().runTrainerSegment, input('ext-b', 6, trainer)),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'TrainerCrashed' &&
        err.nonRetryable === false &&
        /simulated crash while saving checkpoint-8/.test(err.message),
    );
    assert.ok(existsSync(once));
    const latest = await store.latestValidCheckpoint('ext-b', 'stage-1');
    assert.equal(latest.ref?.step, 2, 'the half-written checkpoint-8 (step 4) was not committed');
    assert.deepEqual(latest.skipped, []);
    assert.deepEqual(await store.listCheckpointSteps('ext-b', 'stage-1'), [2]);
    // The retry (a new attempt) resumes from step 2.
    const retry = (await new MockActivityEnvironment().run(
      supervisor().runTrainerSegment,
      input('ext-b', 6, trainer),
    )) as TrainerSegmentResult;
    assert.deepEqual(
      retry.committed.map((c) => c.step),
      [4, 6],
    );
    const d = await download(retry.lastCheckpoint!);
    assert.deepEqual([d.meta.step, d.meta.stepOffset, d.meta.upstreamStep], [6, 2, 8]);
    assert.equal(epochsTrained(d.dir), 6);
    await noUpstreamLeft();
  });

  it('cancellation: SIGTERM is forwarded, complete folders are committed, nothing half-written, no process left', async () => {
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d: { step?: number; lastCheckpoint?: string | null }) => {
      if ((d.step ?? 0) >= 3 && d.lastCheckpoint) env.cancel();
    });
    await assert.rejects(
      env.run(supervisor().runTrainerSegment, input('ext-c', 1000, fixtureTrainer({ FLOW_GRPO_EPOCH_MS: '150' }))),
      CancelledFailure,
    );
    const latest = await store.latestValidCheckpoint('ext-c', 'stage-1');
    assert.ok(latest.ref !== null && latest.ref.step >= 2);
    assert.deepEqual(latest.skipped, []);
    await noUpstreamLeft();
  });

  it('a killed adapter (stall watchdog SIGKILL) takes the upstream group with it', async () => {
    // The upstream goes silent (a 100 s epoch): heartbeats stop after the stall timeout, the watchdog kills us.
    await assert.rejects(
      new MockActivityEnvironment().run(
        supervisor().runTrainerSegment,
        input('ext-d', 10, fixtureTrainer({ FLOW_GRPO_EPOCH_MS: '100000' }), 2),
      ),
      (err: Error & { type?: string }) => err.type === 'TrainerStalled',
    );
    await noUpstreamLeft(3000);
  });

  it('maps CUDA OOM to OutOfMemory and a bad command to ConfigInvalid', async () => {
    await assert.rejects(
      new MockActivityEnvironment().run(
        supervisor().runTrainerSegment,
        input('ext-e', 4, fixtureTrainer({ FLOW_GRPO_OOM_AT: '2' })),
      ),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'OutOfMemory' && err.nonRetryable === true && /CUDA out of memory/.test(err.message),
    );
    await assert.rejects(
      new MockActivityEnvironment().run(
        supervisor().runTrainerSegment,
        input('ext-f', 4, fixtureTrainer({}, { command: '/nonexistent/accelerate' })),
      ),
      (err: Error & { type?: string }) => err.type === 'ConfigInvalid' && /cannot start/.test(err.message),
    );
    await assert.rejects(
      new MockActivityEnvironment().run(
        supervisor().runTrainerSegment,
        input('ext-g', 4, fixtureTrainer({}, { args: ['--n={nprocs}'] })),
      ),
      (err: Error & { type?: string }) => err.type === 'ConfigInvalid' && /unknown placeholder \{nprocs\}/.test(err.message),
    );
  });
});

// ---------------------------------------------------------------- a stage workflow on the real Temporal

describe('trainStage workflow with the external adapter (real stack)', () => {
  let ctx: WorkerContext;
  let client: Client;
  let workers: Worker[];
  let running: Promise<unknown>;
  const once = path.join(tmp('wf-once'), 'crashed');

  before(async () => {
    const file = await testConfigFile({
      mutate: (doc) => {
        // Marker mode (PEFT writes adapter_config.json after the weights): checkpoint-4 (step 2) is complete when
        // the upstream dies writing checkpoint-8 (step 4), so the retry must warm-start from step 2.
        const t = fixtureTrainer(
          { FLOW_GRPO_HALF_WRITE_AT: '8', FLOW_GRPO_HALF_WRITE_ONCE: once },
          { completeMarker: 'lora/adapter_config.json' },
        );
        doc.setIn(['stages', 0, 'trainer'], doc.createNode(t));
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 8, segmentSteps: 4, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 2);
        doc.setIn(['stages', 0, 'evalEvery'], 4);
        doc.setIn(['stages', 0, 'stallTimeoutSeconds'], 20);
        doc.setIn(['workers', 'gpu', 'shutdownGraceSeconds'], 5);
      },
    });
    ctx = await createWorkerContext(file, { launcher: defaultLauncher });
    client = await testClient();
    workers = [await createWorker(ctx, 'cpu'), await createWorker(ctx, 'gpu')];
    running = Promise.all(workers.map((w) => w.run()));
  });

  after(async () => {
    for (const w of workers) w.shutdown();
    await running;
    await ctx.connection.close();
    await client.connection.close();
  });

  it('runs to the budget through an upstream crash mid-save: each checkpoint once, offsets right', async () => {
    const runId = `ext-wf-${Date.now()}`;
    const handle = await client.workflow.start('trainStage', {
      workflowId: stageWorkflowId(runId, 1),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [
        { runId, stage: 1, config: ctx.config, configBaseDir: ctx.loaded.baseDir, configDigest: ctx.loaded.digest, initFrom: {} },
      ],
    });
    const result = (await handle.result()) as TrainStageResult;
    assert.ok(existsSync(once), 'the crash knob fired');
    assert.equal(result.step, 8);
    assert.deepEqual(await ctx.store.listCheckpointSteps(runId, 'stage-1'), [8, 6, 4, 2]);
    const latest = await ctx.store.latestValidCheckpoint(runId, 'stage-1');
    assert.deepEqual(latest.skipped, []);
    const metaAt = async (step: number) => {
      const prefix = checkpointPrefix(runId, 'stage-1', step);
      const { sha256 } = await ctx.store.readManifest(prefix);
      const dir = tmp('wf-dl');
      await ctx.store.downloadCheckpoint(
        { bucket: latest.ref!.bucket, runId, stage: 'stage-1', step, prefix, manifestSha256: sha256 },
        dir,
      );
      const meta = JSON.parse(readFileSync(path.join(dir, 'realgen-external.json'), 'utf8')) as ExternalCheckpointMeta;
      return { ...meta, epochs: epochsTrained(dir) };
    };
    // step 2: first attempt; step 4: the retry after the crash, warm-started from 2; steps 6, 8: segment 2 from 4.
    const expected = { 2: [0, 4], 4: [2, 4], 6: [4, 4], 8: [4, 8] } as const;
    for (const [step, [offset, upstream]] of Object.entries(expected)) {
      const m = await metaAt(Number(step));
      assert.deepEqual(
        [m.step, m.stepOffset, m.upstreamStep, m.epochs],
        [Number(step), offset, upstream, Number(step)],
        `checkpoint ${step}`,
      );
    }
    // The parent chain runs through every committed step exactly once.
    const { manifest } = await ctx.store.readManifest(latest.ref!.prefix);
    assert.equal(manifest.parent?.step, 6);
    // One RealBench evaluation per committed checkpoint at the evaluation frequency (steps 4 and 8), started once.
    const shas = await Promise.all(
      [4, 8].map(async (step) => (await ctx.store.readManifest(checkpointPrefix(runId, 'stage-1', step))).sha256),
    );
    const suite = ctx.config.realbench.suite;
    assert.deepEqual(
      result.evaluations,
      shas.map((sha) => `eval/${sha}/${suite}`),
    );
    for (const id of result.evaluations) {
      const desc = await client.workflow.getHandle(id).describe();
      assert.equal(desc.type, 'evaluateCheckpoint', `${id} was started`);
      // The evaluation itself is covered elsewhere; stop it so it does not outlive the test.
      await client.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined);
    }
    await noUpstreamLeft();
  });
});
