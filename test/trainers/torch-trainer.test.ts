/**
 * The native PyTorch trainer (`backend: torch`, trainers/torch) in the real pipeline: `trainStage` workflows on the
 * real Temporal and MinIO, the stage's trainer launched by the GPU worker's default launcher from the torch venv
 * (scripts/install-python.sh), 2 gloo ranks of the realgen-mini family, rewards from a running
 * `realgen serve reward`. Checks that the supervisor, workflows and cancel work unchanged with it:
 * - an uninterrupted 3-step run commits a checkpoint per step;
 * - a run whose trainer is SIGKILLed after its first commit is retried, resumes from the committed checkpoint and
 *   ends with LoRA files byte-identical to the uninterrupted run (CPU, 1 thread, reward service at --max-batch 1);
 * - cancelling a run SIGTERMs the trainer, which checkpoints its last completed step between saveEvery points,
 *   and that checkpoint is committed.
 * The pytest suite (bash scripts/test-python.sh) covers the trainer itself.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { SegmentHeartbeat } from '../../contracts/trainer-segment';
import { torchVenvPython } from '../../activities/training/torch-launcher';
import type { RunConfig } from '../../configs/schema';
import { stageWorkflowId } from '../../contracts/ids';
import { stageProgressQuery } from '../../contracts/training-messages';
import { digestOf } from '../../lib/canonical-json';
import type { TrainStageResult } from '../../workflows/train-stage';
import { startRewardService, type TestRewardService } from '../helpers/reward-service';
import { testConfigFile } from '../helpers/stack';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';
import { until as untilWithin } from '../helpers/until';

/** Torch runs are slow to start: five minutes, not the helper's one. */
const until = <T>(what: string, probe: () => Promise<T | undefined>) => untilWithin(what, probe, 300_000);

let workers: TestWorkers;
let reward: TestRewardService | null = null;

/** The step of the running segment's last activity heartbeat (the workflow itself learns steps at segment end). */
async function heartbeatStep(handle: WorkflowHandle): Promise<number> {
  const d = await handle.describe();
  const details = d.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
  if (!details) return 0;
  return (defaultPayloadConverter.fromPayload(details) as SegmentHeartbeat).step;
}

/** Trainer processes (launcher, torchrun, ranks) of this run, found by their job-spec path under our work dir. */
function trainerProcesses(runId: string): Array<{ pid: number; ppid: number; cmdline: string }> {
  const marker = `${path.join(workers.ctx.workDir, runId)}${path.sep}`;
  const found: Array<{ pid: number; ppid: number; cmdline: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (!cmdline.includes('realgen_torch.train') || !cmdline.includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      found.push({ pid: Number(entry), ppid: Number(fields[1]), cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function noTrainerLeft(runId: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (trainerProcesses(runId).length > 0) {
    if (Date.now() > deadline) throw new Error(`trainer processes left: ${JSON.stringify(trainerProcesses(runId))}`);
    await delay(100);
  }
}

function start(runId: string, edit: (c: RunConfig) => void = () => undefined) {
  const config = structuredClone(workers.ctx.config);
  edit(config);
  return workers.client.workflow.start('trainStage', {
    workflowId: stageWorkflowId(runId, 2),
    taskQueue: config.taskQueues.cpu,
    args: [{ runId, stage: 2, config, configBaseDir: workers.ctx.loaded.baseDir, configDigest: digestOf(config), initFrom: {} }],
  });
}

/** The sha256 of every LoRA file (EMA and live weights) of the run's newest valid stage-2 checkpoint. */
async function loraFiles(runId: string) {
  const latest = await workers.ctx.store.latestValidCheckpoint(runId, 'stage-2');
  assert.ok(latest.ref, `run ${runId} has a valid stage-2 checkpoint`);
  const { manifest } = await workers.ctx.store.readManifest(latest.ref.prefix);
  const lora = manifest.files.filter((f) => f.path.endsWith('.safetensors')).map((f) => ({ path: f.path, sha256: f.sha256 }));
  return { step: latest.ref.step, lora, paths: manifest.files.map((f) => f.path) };
}

describe('torch trainer (mini family, 2 gloo ranks) through trainStage on the real stack', () => {
  before(async () => {
    const python = torchVenvPython();
    if (!existsSync(python)) throw new Error(`${python} is missing: run bash scripts/install-python.sh first (npm test does)`);
    const file = await testConfigFile({
      mutate: (doc) => {
        doc.setIn(['stages', 1, 'trainer'], doc.createNode({ backend: 'torch', family: 'mini', numProcesses: 2, threads: 1 }));
        doc.setIn(
          ['stages', 1, 'grpo'],
          doc.createNode({
            groupSize: 2,
            promptsPerEpoch: 2,
            batchSize: 1,
            gradientAccumulationSteps: 2,
            learningRate: 0.001,
            klBeta: 0.0004,
            klMode: 'velocity-mse',
            clipRange: 0.001,
            ratioNorm: true,
            samplingSteps: 4,
            noiseLevel: 0.9,
            sdeWindow: { size: 1, startMin: 0, startMax: 2 },
            lora: { rank: 2, alpha: 4 },
            ema: { decay: 0.9, everyOptimizerSteps: 1 },
          }),
        );
        doc.setIn(['stages', 1, 'budget'], doc.createNode({ maxSteps: 3, segmentSteps: 3, segmentMinutes: 10 }));
        doc.setIn(['stages', 1, 'saveEvery'], 1);
        doc.setIn(['stages', 1, 'evalEvery'], 999);
        doc.setIn(['stages', 1, 'stallTimeoutSeconds'], 120);
        doc.setIn(['workers', 'gpu', 'shutdownGraceSeconds'], 60);
      },
    });
    // The real reward service; one image per inference batch, so scores do not depend on timing.
    reward = await startRewardService(file);
    workers = await startTestWorkers(file);
  });

  after(async () => {
    await workers?.stop();
    await reward?.stop();
  });

  let reference: Awaited<ReturnType<typeof loraFiles>>;

  it('runs 3 steps and commits a checkpoint per step', async () => {
    const runId = `torch-ref-${Date.now()}`;
    const handle = await start(runId);
    const result = (await handle.result()) as TrainStageResult;
    assert.equal(result.step, 3);
    assert.deepEqual(await workers.ctx.store.listCheckpointSteps(runId, 'stage-2'), [3, 2, 1]);
    reference = await loraFiles(runId);
    assert.equal(reference.step, 3);
    for (const f of [
      'lora/adapter_model.safetensors',
      'lora/adapter_config.json',
      'live/adapter_model.safetensors',
      'optimizer.pt',
      'scheduler.pt',
      'rng/rank-0.pt',
      'rng/rank-1.pt',
      'state.json',
    ]) {
      assert.ok(reference.paths.includes(f), `checkpoint holds ${f}: ${reference.paths.join(', ')}`);
    }
    const p = await handle.query(stageProgressQuery);
    assert.deepEqual(
      p.recentRewards.map((r) => r.step),
      [1, 2, 3],
    );
    await noTrainerLeft(runId);
  });

  it('SIGKILL of the trainer after its first commit: retried, resumed, LoRA files byte-identical', async () => {
    const runId = `torch-kill-${Date.now()}`;
    const handle = await start(runId);
    // The first commit (the supervisor commits while the trainer goes on), then the launcher: it is our child (the
    // supervisor runs in this process), and its death takes torchrun and the ranks with it.
    await until(
      'the first commit',
      async () => ((await workers.ctx.store.latestValidCheckpoint(runId, 'stage-2')).ref?.step ?? 0) >= 1 || undefined,
    );
    const launcher = trainerProcesses(runId).find((p) => p.ppid === process.pid);
    assert.ok(
      launcher,
      `the trainer launcher of ${runId} is still running (steps committed: ${(await workers.ctx.store.listCheckpointSteps(runId, 'stage-2')).join(',')})`,
    );
    process.kill(launcher.pid, 'SIGKILL');
    await noTrainerLeft(runId).catch(async () => {
      // The retry may already have started a new attempt; the killed one must be gone.
      const left = trainerProcesses(runId).filter((p) => p.cmdline.includes('attempt-1'));
      assert.deepEqual(left, []);
    });
    const result = (await handle.result()) as TrainStageResult;
    assert.equal(result.step, 3);
    const resumed = await loraFiles(runId);
    assert.equal(resumed.step, 3);
    assert.deepEqual(resumed.lora, reference.lora, 'final LoRA files equal the uninterrupted run byte for byte');
    await noTrainerLeft(runId);
  });

  it('cancel: SIGTERM makes the trainer checkpoint its last completed step, and it is committed', async () => {
    const runId = `torch-cancel-${Date.now()}`;
    // A long stage whose only saveEvery point is its end: a checkpoint before it can only come from the SIGTERM.
    // The supervisor heartbeats on its own tick (a fraction of the heartbeat timeout), so the step the test waits for
    // reaches the server promptly; the stall timeout stays the preset's (torch's start on a loaded machine is slow).
    const handle = await start(runId, (c) => {
      const s = c.stages[1]!;
      s.budget = { ...s.budget, maxSteps: 60, segmentSteps: 60 };
      s.saveEvery = 60;
      s.evalEvery = 60;
    });
    const seen = await until('a completed step', async () => {
      const step = await heartbeatStep(handle);
      return step >= 1 ? step : undefined;
    });
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
    const latest = await workers.ctx.store.latestValidCheckpoint(runId, 'stage-2');
    assert.ok(latest.ref !== null, 'a checkpoint was committed');
    assert.ok(
      latest.ref.step >= seen && latest.ref.step < 60,
      `checkpoint at step ${latest.ref.step} (the trainer was at ${seen} when cancelled)`,
    );
    assert.deepEqual(latest.skipped, []);
    await noTrainerLeft(runId);
  });
});
