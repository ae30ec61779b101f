/**
 * The built-in realgen-mini trainer through the supervisor (real MinIO, real mini models): a run resumed from a
 * checkpoint continues bit for bit like an uninterrupted one, for a stage that trains both policies (stage 3).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { GpuPool } from '../../activities/training/gpu-pool';
import { builtinLauncher } from '../../activities/training/trainer-launchers';
import { createTrainerSupervisor } from '../../activities/training/trainer-supervisor';
import type { TrainerSegmentInput, TrainerSegmentResult } from '../../contracts/trainer-segment';
import { loadConfig } from '../../configs/load';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { freshStore } from '../helpers/stack';

const repo = path.resolve(__dirname, '..', '..');
const loaded = loadConfig(path.join(repo, 'configs', 'mini.yaml'));
let store: CheckpointStore;

function input(runId: string, stopAtStep: number, filters = false): TrainerSegmentInput {
  const config = structuredClone(loaded.config);
  const s = config.stages[2]!;
  s.grpo.groupSize = 2;
  s.grpo.promptsPerEpoch = 2;
  s.grpo.samplingSteps = 4;
  s.grpo.batchSize = 2;
  s.grpo.sdeWindow = { size: 1, startMin: 0, startMax: 2 };
  if (filters) {
    s.grpo.adapter = 'filters';
    s.grpo.commonNoise = true;
  }
  s.saveEvery = 1;
  s.evalEvery = 1;
  return {
    runId,
    stage: 3,
    segment: 0,
    config,
    configBaseDir: loaded.baseDir,
    configDigest: loaded.digest,
    stopAtStep,
    initFrom: {},
  };
}

async function run(runId: string, stopAt: number, filters = false): Promise<TrainerSegmentResult> {
  const supervisor = createTrainerSupervisor({
    store,
    workDir: mkdtempSync(path.join(os.tmpdir(), 'realgen-builtin-')),
    gpuPool: new GpuPool([], 1, 1),
    launcher: builtinLauncher,
    producer: { name: 'test', version: '1' },
    graceSeconds: 10,
  });
  return (await new MockActivityEnvironment().run(
    supervisor.runTrainerSegment,
    input(runId, stopAt, filters),
  )) as TrainerSegmentResult;
}

describe('built-in realgen-mini trainer', () => {
  before(async () => {
    store = await freshStore('builtin');
  });

  it('resumes bit for bit: 2 steps in one segment == 1 step, then 1 more from the checkpoint', async () => {
    const straight = await run('straight', 2);
    await run('resumed', 1);
    const resumed = await run('resumed', 2);
    assert.deepEqual(
      resumed.committed.map((c) => c.step),
      [2],
    );
    const files = async (r: TrainerSegmentResult) => (await store.readManifest(r.lastCheckpoint!.prefix)).manifest.files;
    const [a, b] = [await files(straight), await files(resumed)];
    assert.deepEqual(
      a.map((f) => f.path),
      ['adapter-adam.json', 'adapter.json', 'policy-adam.json', 'policy.json', 'state.json'],
    );
    assert.deepEqual(b, a, 'same bytes for every file');
    assert.ok(straight.metrics.every((m) => Number.isFinite(m.metrics.reward ?? NaN)));
  });

  it('trains the weight-shared filter adapter with common noise, resumes bit for bit, and writes a filter-adapter checkpoint', async () => {
    const straight = await run('filters-straight', 2, true);
    await run('filters-resumed', 1, true);
    const resumed = await run('filters-resumed', 2, true);
    const files = async (r: TrainerSegmentResult) => (await store.readManifest(r.lastCheckpoint!.prefix)).manifest.files;
    const [a, b] = [await files(straight), await files(resumed)];
    assert.deepEqual(b, a, 'same bytes for every file');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-filters-'));
    await store.downloadCheckpoint(straight.lastCheckpoint!, dir);
    const adapter = JSON.parse(readFileSync(path.join(dir, 'adapter.json'), 'utf8')) as { kind: string; W: string };
    assert.notEqual(adapter.W, Buffer.alloc(864 * 8).toString('base64'), 'the adapter moved');
    assert.equal(adapter.kind, 'filter-adapter');
  });
});
