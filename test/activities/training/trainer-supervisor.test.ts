/** The supervisor activity against the real MinIO, with a protocol-following fixture trainer. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { GpuPool } from '../../../activities/training/gpu-pool';
import { builtinLauncher } from '../../../activities/training/trainer-launchers';
import { createTrainerSupervisor } from '../../../activities/training/trainer-supervisor';
import type { TrainerSegmentInput, TrainerSegmentResult } from '../../../contracts/trainer-segment';
import { loadConfig } from '../../../configs/load';
import type { RunConfig } from '../../../configs/schema';
import type { CheckpointStore } from '../../../infra/s3/checkpoint-store';
import { freshStore } from '../../helpers/stack';

const repo = path.resolve(__dirname, '..', '..', '..');
const fixture = path.join(repo, 'test', 'fixtures', 'trainers', 'counter-trainer.ts');
const tsx = path.join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs');
let store: CheckpointStore;
/** An external trainer block (the test launcher runs the fixture whatever the backend). */
const EXTERNAL = {
  backend: 'external' as const,
  command: 'python',
  args: [],
  numProcesses: 1,
  checkpointGlob: 'checkpoints/checkpoint-*',
  quietPeriodSeconds: 30,
  stepsPerEpoch: 1,
  metricPatterns: [],
};
const loaded = loadConfig(path.join(repo, 'configs', 'mini.yaml'));

function config(stall = 3): RunConfig {
  const c = structuredClone(loaded.config);
  const s = c.stages[0]!;
  s.saveEvery = 2;
  s.evalEvery = 2;
  s.stallTimeoutSeconds = stall;
  return c;
}

function supervisor(env: Record<string, string> = {}, graceSeconds = 5) {
  return createTrainerSupervisor({
    store,
    workDir: mkdtempSync(path.join(os.tmpdir(), 'realgen-sup-')),
    gpuPool: new GpuPool([], 1, 1),
    launcher: (_trainer, jobFile) => ({ command: process.execPath, args: ['--import', tsx, fixture, '--job', jobFile], env }),
    producer: { name: 'test', version: '1' },
    graceSeconds,
  });
}

function input(runId: string, stopAtStep: number, stall?: number): TrainerSegmentInput {
  return {
    runId,
    stage: 1,
    segment: 0,
    config: config(stall),
    configBaseDir: loaded.baseDir,
    configDigest: loaded.digest,
    stopAtStep,
    initFrom: {},
  };
}

/** Alive = exists and is not a zombie waiting to be reaped. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('trainer supervisor (real MinIO, fixture trainer)', () => {
  before(async () => {
    store = await freshStore('sup');
  });

  it('runs a segment to its budget, committing every saveEvery steps and the end', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const result = (await env.run(supervisor().runTrainerSegment, input('sup-a', 5))) as TrainerSegmentResult;
    assert.equal(result.step, 5);
    assert.equal(result.reason, 'budget');
    assert.deepEqual(
      result.committed.map((c) => c.step),
      [2, 4, 5],
    );
    assert.equal(result.metrics.at(-1)?.step, 5);
    const latest = await store.latestValidCheckpoint('sup-a', 'stage-1');
    assert.equal(latest.ref?.manifestSha256, result.lastCheckpoint?.manifestSha256);
    const { manifest } = await store.readManifest(latest.ref!.prefix);
    assert.deepEqual(
      manifest.files.map((f) => f.path),
      ['state.json', 'weights/w.bin'],
    );
    assert.equal(manifest.parent?.step, 4);
    assert.ok(
      beats.some((b) => (b as { step: number }).step === 5),
      'heartbeats carry the step',
    );
  });

  it('resumes the next attempt from the newest valid checkpoint, ending identical to an uninterrupted run', async () => {
    const env = new MockActivityEnvironment();
    await env.run(supervisor().runTrainerSegment, input('sup-b', 3));
    const resumed = (await new MockActivityEnvironment().run(
      supervisor().runTrainerSegment,
      input('sup-b', 6),
    )) as TrainerSegmentResult;
    assert.deepEqual(
      resumed.committed.map((c) => c.step),
      [4, 6],
    );
    const straight = (await new MockActivityEnvironment().run(
      supervisor().runTrainerSegment,
      input('sup-c', 6),
    )) as TrainerSegmentResult;
    const files = async (run: string) =>
      (await store.readManifest((await store.latestValidCheckpoint(run, 'stage-1')).ref!.prefix)).manifest.files;
    assert.deepEqual(await files('sup-b'), await files('sup-c'));
    assert.equal(straight.step, 6);
    // Nothing left to do: the segment returns at once.
    const again = (await new MockActivityEnvironment().run(
      supervisor().runTrainerSegment,
      input('sup-b', 6),
    )) as TrainerSegmentResult;
    assert.equal(again.reason, 'resumed-complete');
    assert.equal(again.step, 6);
  });

  it('detects a stalled trainer within the stall timeout and leaves no process of its group', async () => {
    const pidFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'realgen-pid-')), 'grandchild.pid');
    const t0 = Date.now();
    await assert.rejects(
      // 5 s: long enough for the fixture's own start (tsx compiles it) on a loaded 2-core machine, which is silence too.
      new MockActivityEnvironment().run(
        supervisor({ FIXTURE_STALL_AT: '3', FIXTURE_GRANDCHILD: pidFile }).runTrainerSegment,
        input('sup-d', 10, 5),
      ),
      (err: Error & { type?: string; nonRetryable?: boolean }) => err.type === 'TrainerStalled' && err.nonRetryable === false,
    );
    const elapsed = (Date.now() - t0) / 1000;
    assert.ok(elapsed < 5 + 6, `stall noticed after ${elapsed.toFixed(1)} s (timeout 5 s)`);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(pidAlive(grandchild), false, 'the whole process group is gone');
    // Progress up to the stall was committed and is what the retry resumes from.
    assert.equal((await store.latestValidCheckpoint('sup-d', 'stage-1')).ref?.step, 2);
  });

  it('on cancellation asks the trainer to checkpoint, then fails with CancelledFailure and leaves no process', async () => {
    const pidFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'realgen-pid-')), 'grandchild.pid');
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d: { step?: number }) => {
      if ((d.step ?? 0) >= 3) env.cancel();
    });
    await assert.rejects(
      env.run(supervisor({ FIXTURE_STEP_MS: '50', FIXTURE_GRANDCHILD: pidFile }).runTrainerSegment, input('sup-e', 1000)),
      CancelledFailure,
    );
    const latest = await store.latestValidCheckpoint('sup-e', 'stage-1');
    assert.ok(latest.ref !== null && latest.ref.step >= 3, 'a checkpoint was flushed on SIGTERM');
    assert.deepEqual(latest.skipped, []);
    assert.equal(pidAlive(Number(readFileSync(pidFile, 'utf8'))), false);
  });

  it('escalates to SIGKILL when the trainer ignores SIGTERM past the grace period', async () => {
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d: { step?: number }) => {
      if ((d.step ?? 0) >= 2) env.cancel();
    });
    const t0 = Date.now();
    await assert.rejects(
      env.run(supervisor({ FIXTURE_IGNORE_TERM: '1', FIXTURE_STEP_MS: '50' }, 1).runTrainerSegment, input('sup-f', 1000)),
      CancelledFailure,
    );
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('maps trainer error kinds and crashes to failure types with the right retry flag', async () => {
    await assert.rejects(
      new MockActivityEnvironment().run(
        supervisor({ FIXTURE_ERROR_AT: '2', FIXTURE_ERROR_KIND: 'OutOfMemory' }).runTrainerSegment,
        input('sup-g', 5),
      ),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'OutOfMemory' && err.nonRetryable === true && /fixture error/.test(err.message),
    );
    await assert.rejects(
      new MockActivityEnvironment().run(supervisor({ FIXTURE_CRASH_AT: '2' }).runTrainerSegment, input('sup-h', 5)),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'TrainerCrashed' && err.nonRetryable === false && /code 3/.test(err.message),
    );
    assert.equal(existsSync(path.join(os.tmpdir(), 'never')), false);
  });

  it('resolves trainer env secrets only into the trainer process; the job spec is 0600 in a 0700 folder and holds no secret', async () => {
    const probe = path.join(mkdtempSync(path.join(os.tmpdir(), 'realgen-probe-')), 'probe.json');
    const secret = 'hf_probeSecretValue0123456789';
    process.env.RG_TEST_HF_TOKEN = secret;
    const inp = input('sup-secret', 2);
    inp.config.stages[0]!.trainer = { ...EXTERNAL, env: { HF_TOKEN: { env: 'RG_TEST_HF_TOKEN' }, WANDB_MODE: 'offline' } };
    try {
      await new MockActivityEnvironment().run(supervisor({ FIXTURE_PROBE: probe }).runTrainerSegment, inp);
    } finally {
      delete process.env.RG_TEST_HF_TOKEN;
    }
    const seen = JSON.parse(readFileSync(probe, 'utf8')) as {
      jobMode: number;
      dirMode: number;
      jobText: string;
      hfToken: string | null;
    };
    assert.equal(seen.hfToken, secret, 'the trainer got the secret in its environment');
    assert.ok(!seen.jobText.includes(secret), 'the job spec holds the reference, not the value');
    assert.match(seen.jobText, /RG_TEST_HF_TOKEN/);
    assert.equal(seen.jobMode.toString(8), '600');
    assert.equal(seen.dirMode.toString(8), '700');
  });

  it('fails non-retryably naming the field (never a value) when a trainer env secret cannot be resolved', async () => {
    const inp = input('sup-secret-missing', 2);
    inp.config.stages[0]!.trainer = { ...EXTERNAL, env: { HF_TOKEN: { env: 'RG_TEST_UNSET_TOKEN' } } };
    await assert.rejects(
      new MockActivityEnvironment().run(supervisor().runTrainerSegment, inp),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'ConfigInvalid' &&
        err.nonRetryable === true &&
        /stages\[0\]\.trainer\.env\.HF_TOKEN: environment variable RG_TEST_UNSET_TOKEN is not set/.test(err.message),
    );
  });

  it('refuses to resume under a changed config digest unless allowConfigChange is set, and records the change', async () => {
    await new MockActivityEnvironment().run(supervisor().runTrainerSegment, input('sup-cfg', 2));
    const other = 'f'.repeat(64);
    await assert.rejects(
      new MockActivityEnvironment().run(supervisor().runTrainerSegment, { ...input('sup-cfg', 4), configDigest: other }),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'ConfigInvalid' &&
        err.nonRetryable === true &&
        err.message.includes(loaded.digest) &&
        err.message.includes(other) &&
        /allowConfigChange/.test(err.message),
    );
    assert.equal(
      (await store.latestValidCheckpoint('sup-cfg', 'stage-1')).ref?.step,
      2,
      'nothing was trained under the new config',
    );
    const allowed = { ...input('sup-cfg', 4), configDigest: other };
    allowed.config.allowConfigChange = true;
    const result = (await new MockActivityEnvironment().run(supervisor().runTrainerSegment, allowed)) as TrainerSegmentResult;
    assert.equal(result.step, 4);
    const { manifest } = await store.readManifest(result.lastCheckpoint!.prefix);
    assert.equal(manifest.configDigest, other);
    assert.deepEqual(manifest.meta?.configChange, { from: loaded.digest, to: other, parentStep: 2 });
    assert.equal(manifest.parent?.step, 2);
  });

  it('classifies a missing or corrupt model file of the built-in trainer as non-retryable, naming the path', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-badmodel-'));
    const builtin = createTrainerSupervisor({
      store,
      workDir: mkdtempSync(path.join(os.tmpdir(), 'realgen-sup-')),
      gpuPool: new GpuPool([], 1, 1),
      launcher: builtinLauncher,
      producer: { name: 'test', version: '1' },
      graceSeconds: 5,
    });
    const missing = path.join(dir, 'missing', 'generator.json');
    const withGenerator = (generator: string) => {
      const inp = input('sup-model', 2);
      inp.config.stages[0]!.trainer = { backend: 'builtin' };
      inp.config.stages[0]!.grpo.ratioNorm = false;
      inp.config.models.generator = generator;
      return inp;
    };
    await assert.rejects(
      new MockActivityEnvironment().run(builtin.runTrainerSegment, withGenerator(missing)),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'ConfigInvalid' && err.nonRetryable === true && err.message.includes(missing),
    );
    // A generator description whose ONNX graph is garbage.
    const spec = path.join(dir, 'generator.json');
    writeFileSync(spec, readFileSync(path.join(repo, 'models', 'realgen-mini', 'generator.json')));
    writeFileSync(path.join(dir, 'generator.onnx'), Buffer.from('this is not an onnx graph'));
    await assert.rejects(
      new MockActivityEnvironment().run(builtin.runTrainerSegment, withGenerator(spec)),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'ConfigInvalid' && err.nonRetryable === true && err.message.includes(spec),
    );
  });
});
