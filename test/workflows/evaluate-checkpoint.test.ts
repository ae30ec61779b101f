/**
 * evaluateCheckpoint on the real Temporal dev server and the real MinIO, with tiny authored models (an 8×8
 * generator, three mean-pixel detectors) on the RealBench smoke suite (14 items, shards of 4).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { parseDocument } from 'yaml';
import { evaluationCpuActivities, evaluationGpuActivities } from '../../activities/evaluation';
import { getJson, objectExists } from '../../activities/evaluation/layout';
import type { EvaluationResult } from '../../contracts/evaluation';
import type { CheckpointRef } from '../../contracts/checkpoint-manifest';
import { PromptPolicy } from '../../domain/grpo/prompt-policy';
import { VelocityAdapter } from '../../domain/grpo/velocity-adapter';
import type { EvaluationReport, LeaderboardEntry } from '../../domain/report/report-model';
import { Rng } from '../../lib/random';
import { evalKeyOfWorkflowId } from '../../contracts/ids';
import type { EvaluateCheckpointInput } from '../../workflows/evaluate-checkpoint';
import { evalWorkflowId } from '../../contracts/ids';
import { createWorkerContext, type WorkerContext } from '../../workers/worker-context';
import { testConfigFile } from '../helpers/stack';
import { maybeRecordHistory, testClient } from '../helpers/temporal';
import { writeTinyDetector } from '../helpers/tiny-detector';
import { writeTinyGenerator } from '../helpers/tiny-generator';

const repo = path.resolve(__dirname, '..', '..');
const SMOKE_ITEMS = 14;

let ctx: WorkerContext;
let client: Client;
let bundle: WorkflowBundleWithSourceMap;
let cpuWorker: Worker;
let cpuRunning: Promise<void>;
let generatorCalls = 0;
const runId = `evaltest-${Date.now()}`;

async function writeConfig(): Promise<string> {
  const base = await testConfigFile();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-eval-models-'));
  const generator = writeTinyGenerator(dir);
  const det = (name: string) => writeTinyDetector(dir, { name });
  const doc = parseDocument(readFileSync(base, 'utf8'));
  doc.setIn(['models', 'generator'], generator);
  doc.setIn(['reward', 'detectors'], doc.createNode([{ name: 'tiny-a', manifest: det('tiny-a'), weight: 1 }]));
  doc.deleteIn(['reward', 'alignment']);
  doc.setIn(
    ['evaluation', 'detectors'],
    doc.createNode([
      { name: 'tiny-a', manifest: det('tiny-a') },
      { name: 'tiny-b', manifest: det('tiny-b') },
      { name: 'tiny-heldout', manifest: det('tiny-heldout'), heldout: true },
    ]),
  );
  doc.setIn(['evaluation', 'judge'], doc.createNode({ backend: 'local', detector: 'tiny-heldout' }));
  doc.setIn(['realbench', 'source'], doc.createNode({ dir: path.resolve(repo, '..', 'shared', 'realbench-data') }));
  doc.setIn(['realbench', 'suite'], 'smoke');
  doc.setIn(['realbench', 'shardSize'], 4);
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, doc.toString());
  return file;
}

async function commitCheckpoint(step: number): Promise<CheckpointRef> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-eval-ckpt-'));
  const descriptors = JSON.parse(readFileSync(path.join(repo, 'models', 'realgen-mini', 'descriptors.json'), 'utf8')) as {
    slots: Record<string, string[]>;
  };
  const policy = PromptPolicy.create(descriptors, { init: 'uniform', rng: Rng.fromSeed(step, 'policy'), scale: 1 });
  const adapter = VelocityAdapter.create({ D: 3 * 8 * 8 });
  const rng = Rng.fromSeed(step, 'adapter');
  for (let i = 0; i < adapter.params.length; i++) adapter.params[i] = 0.01 * rng.normal();
  writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ step }));
  writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(policy.serialize()));
  writeFileSync(path.join(dir, 'adapter.json'), JSON.stringify(adapter.serialize()));
  const { ref } = await ctx.store.commitCheckpoint({
    runId,
    stage: 'stage-1',
    step,
    files: ['state.json', 'policy.json', 'adapter.json'].map((f) => ({ path: f, localPath: path.join(dir, f) })),
    configDigest: ctx.loaded.digest,
    parent: null,
    producer: { name: 'test', version: '1' },
  });
  return ref;
}

function inputFor(ref: CheckpointRef): { workflowId: string; input: EvaluateCheckpointInput } {
  const workflowId = evalWorkflowId(ref.manifestSha256, 'smoke');
  return {
    workflowId,
    input: {
      evalKey: evalKeyOfWorkflowId(workflowId),
      suite: 'smoke',
      source: { kind: 'mini-checkpoint', ref },
      name: `${ref.runId}/${ref.stage}@${ref.step}`,
      config: ctx.config,
      configBaseDir: ctx.loaded.baseDir,
      configDigest: ctx.loaded.digest,
      taskQueues: ctx.config.taskQueues,
    },
  };
}

async function gpuWorker(onCall?: (total: number) => void): Promise<Worker> {
  return await Worker.create({
    connection: ctx.connection,
    taskQueue: ctx.config.taskQueues.gpu,
    activities: evaluationGpuActivities({
      store: ctx.store,
      workDir: ctx.workDir,
      onGeneratorCall: (n) => {
        generatorCalls += n;
        onCall?.(generatorCalls);
      },
    }),
    maxConcurrentActivityTaskExecutions: 1,
    shutdownGraceTime: '30s',
  });
}

function start(workflowId: string, input: EvaluateCheckpointInput): Promise<WorkflowHandleWithFirstExecutionRunId> {
  return client.workflow.start('evaluateCheckpoint', {
    workflowId,
    taskQueue: ctx.config.taskQueues.cpu,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

describe('evaluateCheckpoint workflow (real stack)', () => {
  before(async () => {
    ctx = await createWorkerContext(await writeConfig());
    client = await testClient();
    bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows/evaluate-checkpoint.ts'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
    });
    cpuWorker = await Worker.create({
      connection: ctx.connection,
      taskQueue: ctx.config.taskQueues.cpu,
      workflowBundle: bundle,
      activities: evaluationCpuActivities({ store: ctx.store, workDir: ctx.workDir }),
      maxConcurrentActivityTaskExecutions: 4,
    });
    cpuRunning = cpuWorker.run();
  });

  after(async () => {
    cpuWorker.shutdown();
    await cpuRunning;
    await ctx.connection.close();
    await client.connection.close();
  });

  it('runs ONE evaluation for two concurrent requests, and writes the report and leaderboard entry', async () => {
    const ref = await commitCheckpoint(1);
    const { workflowId, input } = inputFor(ref);
    const gpu = await gpuWorker();
    const gpuRunning = gpu.run();
    generatorCalls = 0;
    try {
      const [h1, h2] = await Promise.all([start(workflowId, input), start(workflowId, input)]);
      assert.equal(h1.firstExecutionRunId, h2.firstExecutionRunId, 'the second request joined the running evaluation');
      // A third party joins by the business id alone.
      const joined = client.workflow.getHandle(workflowId);
      const [r1, r2, r3] = (await Promise.all([h1.result(), h2.result(), joined.result()])) as [
        EvaluationResult,
        EvaluationResult,
        EvaluationResult,
      ];
      assert.deepEqual(r1, r2);
      assert.deepEqual(r3, r1);
      assert.equal(generatorCalls, SMOKE_ITEMS, 'every image generated exactly once');
      assert.equal(r1.headline.images, SMOKE_ITEMS);

      // (c) report objects and headline numbers.
      for (const key of [r1.reportKeys.json, r1.reportKeys.md, r1.reportKeys.html, r1.reportKeys.leaderboardEntry])
        assert.ok(await objectExists(ctx.store, key), key);
      for (const [name, score] of Object.entries(r1.headline.detectorScoring)) {
        assert.ok(score !== null && score >= 0 && score <= 100, `${name} ${String(score)}`);
      }
      assert.deepEqual(Object.keys(r1.headline.detectorScoring).sort(), ['tiny-a', 'tiny-b', 'tiny-heldout']);
      const wr = r1.headline.arenaWinRate;
      assert.ok(wr !== null && wr >= 0 && wr <= 1);
      assert.ok(r1.headline.arenaCi && r1.headline.arenaCi[0] <= wr && wr <= r1.headline.arenaCi[1]);
      assert.equal(r1.headline.positionConsistency, 1, 'a per-image detector judges both orders alike');
      const report = await getJson<EvaluationReport>(ctx.store, r1.reportKeys.json);
      assert.ok(report);
      assert.equal(report.arena.overall.pairs, SMOKE_ITEMS);
      assert.equal(Object.keys(report.detectorScoring['tiny-heldout']?.byCategory ?? {}).length, 7);
      assert.ok(report.charts.some((c) => c.name === 'detector-scoring'));
      for (const c of report.charts) assert.ok(await objectExists(ctx.store, c.key), c.key);
      const html = (
        await ctx.store.client.getObject(ctx.store.bucket, r1.reportKeys.html).then(async (s) => Buffer.concat(await s.toArray()))
      ).toString('utf8');
      assert.match(html, /<img alt="[^"]*" src="data:image\/png;base64,/);
      // GPU slot-seconds of generation and scoring: in the result and the report.
      assert.ok((r1.gpuSeconds ?? 0) > 0, `gpuSeconds ${r1.gpuSeconds}`);
      assert.equal(report.gpu?.seconds, r1.gpuSeconds);
      assert.match(html, /<li>GPU usage \(generation \+ scoring\): [0-9.e-]+ GPU-h<\/li>/);
      assert.doesNotMatch(html, /src="(?!data:)/, 'self-contained');
      const entry = await getJson<LeaderboardEntry>(ctx.store, r1.reportKeys.leaderboardEntry);
      assert.equal(entry?.outcomes.length, SMOKE_ITEMS);
      assert.equal(entry?.name, `${runId}/stage-1@1`);
      await maybeRecordHistory(client, workflowId, 'evaluateCheckpoint');
    } finally {
      gpu.shutdown();
      await gpuRunning;
    }
  });

  it('reuses base-generator images an earlier evaluation drew (same generator, prompt and seed), byte for byte', async () => {
    const gpu = await gpuWorker();
    const gpuRunning = gpu.run();
    try {
      const base = (subject: string) => {
        const workflowId = evalWorkflowId(subject, 'smoke');
        const input: EvaluateCheckpointInput = {
          ...inputFor({ bucket: '', runId, stage: 'stage-1', step: 0, prefix: '', manifestSha256: '' }).input,
          evalKey: evalKeyOfWorkflowId(workflowId),
          source: { kind: 'mini-checkpoint', ref: null },
          name: subject,
        };
        return { workflowId, input };
      };
      const first = base(`base-a-${process.pid}`);
      generatorCalls = 0;
      const r1 = (await (await start(first.workflowId, first.input)).result()) as EvaluationResult;
      assert.equal(generatorCalls, SMOKE_ITEMS, 'the first evaluation draws every image');
      const second = base(`base-b-${process.pid}`);
      generatorCalls = 0;
      const r2 = (await (await start(second.workflowId, second.input)).result()) as EvaluationResult;
      assert.equal(generatorCalls, 0, 'the second evaluation draws none: every image comes from the cache');
      assert.deepEqual(r2.headline.detectorScoring, r1.headline.detectorScoring, 'the same images score the same');
    } finally {
      gpu.shutdown();
      await gpuRunning;
    }
  });

  it('does not recompute finished shards after the GPU worker stops and the evaluation is restarted', async () => {
    const ref = await commitCheckpoint(2);
    const { workflowId, input } = inputFor(ref);
    generatorCalls = 0;
    // Stop the GPU worker as soon as the first shard's images exist (its activity still finishes within the grace time).
    let first: Worker | undefined;
    first = await gpuWorker((total) => {
      if (total >= 4 && first) {
        first.shutdown();
        first = undefined;
      }
    });
    const firstRunning = first.run();
    const handle = await start(workflowId, input);
    await firstRunning;
    assert.equal(generatorCalls, 4, 'the first worker generated exactly the first shard');
    // The evaluation is lost (terminated) and requested again: the new run must reuse shard 0.
    await handle.terminate('test: simulate a lost evaluation');
    const second = await gpuWorker();
    const secondRunning = second.run();
    try {
      const h2 = await start(workflowId, input);
      assert.notEqual(h2.firstExecutionRunId, handle.firstExecutionRunId);
      const result = (await h2.result()) as EvaluationResult;
      assert.equal(generatorCalls, SMOKE_ITEMS, 'total generated images == number of images: shard 0 was not regenerated');
      assert.ok(result.skippedSteps >= 1, `skipped steps ${result.skippedSteps}`);
      const report = await getJson<EvaluationReport>(ctx.store, result.reportKeys.json);
      assert.deepEqual(
        report?.history.map((h) => h.step),
        [1, 2],
        'the report plots both checkpoints of the run',
      );
      assert.ok(report?.charts.some((c) => c.name === 'history'));
    } finally {
      second.shutdown();
      await secondRunning;
    }
  });
});
