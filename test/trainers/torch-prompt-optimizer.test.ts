/**
 * The torch trainer's prompt-optimizer stages in the real pipeline: `trainStage` workflows on the real Temporal and
 * MinIO, the trainer launched by the GPU worker's default launcher from the torch venv, the realgen-mini generator
 * frozen (stage 1) or trained (stage 3), the realgen-mini LM (models/realgen-mini-lm, a Qwen3 of 0.7 M parameters
 * trained in this repository), rewards from a running `realgen serve reward`.
 * - stage 1: 3 steps, a checkpoint per step holding the LM LoRA and its optimizer, never a generator `lora/`;
 * - stage 3: 2 steps started the way the pipeline starts it (`initFrom` holds stage 1's final checkpoint): its LM
 *   LoRA starts from stage 1's (a KL to the frozen LM from its first step, where a fresh LoRA has exactly 0), and its
 *   checkpoints hold both LoRAs.
 * The pytest suite (trainers/torch/tests/test_prompt_optimizer.py) covers the trainer itself: resume, SIGTERM,
 * malformed rewrites.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { torchVenvPython } from '../../activities/training/torch-launcher';
import type { RunConfig } from '../../configs/schema';
import type { CheckpointRef } from '../../contracts/checkpoint-manifest';
import { stageWorkflowId } from '../../contracts/ids';
import { stageProgressQuery } from '../../contracts/training-messages';
import { digestOf } from '../../lib/canonical-json';
import type { TrainStageResult } from '../../workflows/train-stage';
import { startRewardService, type TestRewardService } from '../helpers/reward-service';
import { testConfigFile } from '../helpers/stack';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';

const repo = path.resolve(__dirname, '..', '..');
const LM = {
  pretrained: path.join(repo, 'models', 'realgen-mini-lm'),
  systemPrompt: 'Rewrite the image prompt.', // the system prompt the LM was trained with (its model card)
  maxNewTokens: 48,
  minWords: 1,
  maxWords: 40,
};
let workers: TestWorkers;
let reward: TestRewardService | null = null;

function start(runId: string, stage: 1 | 3, initFrom: Record<string, CheckpointRef> = {}) {
  const config: RunConfig = structuredClone(workers.ctx.config);
  return workers.client.workflow.start('trainStage', {
    workflowId: stageWorkflowId(runId, stage),
    taskQueue: config.taskQueues.cpu,
    args: [{ runId, stage, config, configBaseDir: workers.ctx.loaded.baseDir, configDigest: digestOf(config), initFrom }],
  });
}

/** The files and state.json of a committed checkpoint, downloaded. */
async function checkpoint(ref: CheckpointRef) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-po-ckpt-'));
  const manifest = await workers.ctx.store.downloadCheckpoint(ref, dir);
  const state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as {
    kind: string;
    step: number;
    lastMetrics: Record<string, number>;
    lastRewrites?: Array<{ malformed: string | null }>;
  };
  return { paths: manifest.files.map((f) => f.path), state };
}

/** The newest valid checkpoint at or below `maxStep`, which must be at `step`. */
async function stepCheckpoint(runId: string, stage: string, step: number, maxStep?: number): Promise<CheckpointRef> {
  const latest = await workers.ctx.store.latestValidCheckpoint(runId, stage, maxStep === undefined ? {} : { maxStep });
  assert.equal(latest.ref?.step, step, `${runId}/${stage}: newest valid checkpoint`);
  return latest.ref;
}

describe('torch trainer, stages 1 and 3 (prompt optimizer, joint) through trainStage on the real stack', () => {
  before(async () => {
    const python = torchVenvPython();
    if (!existsSync(python)) throw new Error(`${python} is missing: run bash scripts/install-python.sh first (npm test does)`);
    const file = await testConfigFile({
      mutate: (doc) => {
        const trainer = { backend: 'torch', family: 'mini', numProcesses: 1, threads: 1, lm: LM };
        doc.setIn(['stages', 0, 'trainer'], doc.createNode(trainer));
        doc.setIn(
          ['stages', 0, 'grpo'],
          doc.createNode({
            groupSize: 3,
            promptsPerEpoch: 2,
            batchSize: 3,
            learningRate: 0.005,
            klBeta: 0.02,
            clipRange: 0.2,
            samplingSteps: 3,
            noiseLevel: 0.9,
            lora: { rank: 2, alpha: 4 },
          }),
        );
        doc.setIn(['stages', 2, 'trainer'], doc.createNode(trainer));
        doc.setIn(
          ['stages', 2, 'grpo'],
          doc.createNode({
            groupSize: 2,
            promptsPerEpoch: 2,
            batchSize: 2,
            learningRate: 0.001,
            klBeta: 0.0004,
            klMode: 'velocity-mse',
            clipRange: 0.001,
            ratioNorm: true,
            samplingSteps: 3,
            noiseLevel: 0.9,
            sdeWindow: { size: 1, startMin: 0, startMax: 1 },
            lora: { rank: 2, alpha: 4 },
          }),
        );
        // Stage 1's LM LoRA shape, since stage 3 starts from it.
        doc.setIn(
          ['stages', 2, 'lmGrpo'],
          doc.createNode({ learningRate: 0.001, klBeta: 0.02, clipRange: 0.2, batchSize: 2, lora: { rank: 2, alpha: 4 } }),
        );
        for (const [i, steps] of [
          [0, 3],
          [2, 2],
        ] as const) {
          doc.setIn(['stages', i, 'budget'], doc.createNode({ maxSteps: steps, segmentSteps: steps, segmentMinutes: 10 }));
          doc.setIn(['stages', i, 'saveEvery'], 1);
          doc.setIn(['stages', i, 'evalEvery'], 999);
          doc.setIn(['stages', i, 'stallTimeoutSeconds'], 120);
        }
      },
    });
    reward = await startRewardService(file);
    workers = await startTestWorkers(file);
  });

  after(async () => {
    await workers?.stop();
    await reward?.stop();
  });

  it('stage 1 runs 3 steps, then stage 3 runs 2 steps from its LM LoRA', async () => {
    const runId = `torch-po-${Date.now()}`;
    const t0 = Date.now();
    const s1 = await start(runId, 1);
    const r1 = (await s1.result()) as TrainStageResult;
    const stage1Seconds = (Date.now() - t0) / 1000;
    assert.equal(r1.step, 3);
    assert.deepEqual(await workers.ctx.store.listCheckpointSteps(runId, 'stage-1'), [3, 2, 1]);
    assert.deepEqual(
      (await s1.query(stageProgressQuery)).recentRewards.map((r) => r.step),
      [1, 2, 3],
    );
    const ref1 = await stepCheckpoint(runId, 'stage-1', 3);
    const c1 = await checkpoint(ref1);
    for (const f of [
      'lm-lora/adapter_model.safetensors',
      'lm-lora/adapter_config.json',
      'lm-optimizer.pt',
      'lm-scheduler.pt',
      'state.json',
    ])
      assert.ok(c1.paths.includes(f), `stage-1 checkpoint holds ${f}: ${c1.paths.join(', ')}`);
    assert.ok(!c1.paths.some((p) => p.startsWith('lora/')), 'the LM adapter is never a generator lora/');
    assert.equal(c1.state.kind, 'prompt-optimizer');
    assert.ok(c1.state.lastMetrics.kl! > 0, `the LM LoRA moved in stage 1 (kl ${c1.state.lastMetrics.kl})`);

    const t1 = Date.now();
    // As the pipeline starts it: the final checkpoints of the earlier stages (here stage 1 only).
    const s3 = await start(runId, 3, { 'stage-1': ref1 });
    const r3 = (await s3.result()) as TrainStageResult;
    const stage3Seconds = (Date.now() - t1) / 1000;
    assert.equal(r3.step, 2);
    assert.deepEqual(await workers.ctx.store.listCheckpointSteps(runId, 'stage-3'), [2, 1]);
    const c3 = await checkpoint(await stepCheckpoint(runId, 'stage-3', 2));
    for (const f of [
      'lora/adapter_model.safetensors',
      'lm-lora/adapter_model.safetensors',
      'optimizer.pt',
      'lm-optimizer.pt',
      'state.json',
    ])
      assert.ok(c3.paths.includes(f), `stage-3 checkpoint holds ${f}: ${c3.paths.join(', ')}`);
    assert.equal(c3.state.kind, 'joint');
    // Step 1's LM KL is measured before its update: > 0 only if the LM LoRA started from stage 1's, not fresh (B = 0).
    const step1 = await checkpoint(await stepCheckpoint(runId, 'stage-3', 1, 1));
    assert.ok(step1.state.lastMetrics.lm_kl! > 0, `stage 3 step 1 lm_kl ${step1.state.lastMetrics.lm_kl}`);
    console.log(`stage 1: ${stage1Seconds.toFixed(1)} s for 3 steps; stage 3: ${stage3Seconds.toFixed(1)} s for 2 steps`);
  });
});
