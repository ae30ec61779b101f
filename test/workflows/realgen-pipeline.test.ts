/**
 * The whole RealGen pipeline on the real stack with the real realgen-mini models and the built-in trainer, at a
 * tiny budget: data → stage 1 → stage 2 → stage 3 → evaluations. Also scans every workflow history of the run for
 * the secret values the workers hold.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { TEMPORAL_BIN } from '../../devstack/stack-binaries';
import { runWorkflowId } from '../../contracts/ids';
import { CHECKPOINT_STEP } from '../../contracts/search-attributes';
import type { PipelineResult } from '../../workflows/realgen-pipeline';
import type { WorkerContext } from '../../workers/worker-context';
import { testConfigFile, testStack } from '../helpers/stack';
import { maybeRecordHistory } from '../helpers/temporal';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';

let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;
const judgeSecret = `judge-${Math.random().toString(36).slice(2)}-secret`;

describe('realgenPipeline (real stack, real mini models, built-in trainer)', () => {
  before(async () => {
    process.env.REALGEN_TEST_JUDGE_KEY = judgeSecret;
    const file = await testConfigFile({
      mutate: (doc) => {
        for (let i = 0; i < 3; i++) {
          doc.setIn(['stages', i, 'grpo', 'groupSize'], 2);
          doc.setIn(['stages', i, 'grpo', 'promptsPerEpoch'], 2);
          doc.setIn(['stages', i, 'grpo', 'samplingSteps'], 4);
          doc.setIn(['stages', i, 'budget'], doc.createNode({ maxSteps: 2, segmentSteps: 2, segmentMinutes: 10 }));
          doc.setIn(['stages', i, 'saveEvery'], 1);
          doc.setIn(['stages', i, 'evalEvery'], 2);
          if (i > 0) doc.setIn(['stages', i, 'grpo', 'sdeWindow'], doc.createNode({ size: 1, startMin: 0, startMax: 2 }));
        }
        doc.setIn(['realbench', 'shardSize'], 7);
      },
    });
    workers = await startTestWorkers(file);
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
  });

  it('trains three stages, evaluates checkpoints, and no history holds a secret', async () => {
    const runId = `pipe-${Date.now()}`;
    const result = (await client.workflow.execute('realgenPipeline', {
      workflowId: runWorkflowId(runId),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [{ runId, config: ctx.config, configBaseDir: ctx.loaded.baseDir, configDigest: ctx.loaded.digest }],
    })) as PipelineResult;
    assert.equal(result.data.realbench.items, 1041);
    assert.equal(result.data.trainingPrompts.count, 936, 'the held-out 10% is not in the training prompts');
    for (const stage of ['stage-1', 'stage-2', 'stage-3']) assert.equal(result.stages[stage]?.step, 2, stage);
    const files = async (stage: string) =>
      (await ctx.store.readManifest(result.stages[stage]!.prefix)).manifest.files.map((f) => f.path);
    assert.deepEqual(await files('stage-1'), ['policy-adam.json', 'policy.json', 'state.json']);
    assert.deepEqual(await files('stage-2'), ['adapter-adam.json', 'adapter.json', 'policy.json', 'state.json']);
    assert.deepEqual(await files('stage-3'), [
      'adapter-adam.json',
      'adapter.json',
      'policy-adam.json',
      'policy.json',
      'state.json',
    ]);
    const state = JSON.parse(
      await (async () => {
        const chunks: Buffer[] = [];
        for await (const c of await ctx.store.client.getObject(ctx.store.bucket, `${result.stages['stage-2']!.prefix}state.json`))
          chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString();
      })(),
    ) as { step: number; lastMetrics: Record<string, number> };
    assert.equal(state.step, 2);
    for (const key of ['reward', 'reward_residual-reward', 'reward_alignment', 'adapter_clipfrac']) {
      assert.ok(Number.isFinite(state.lastMetrics[key]), `metric ${key} recorded`);
    }
    // The final evaluation is the stage-3 evaluation of the same checkpoint: joined, not run twice, and not even
    // started twice (a failed start is a red "Start Child Workflow Execution Failed" in the UI).
    assert.ok(result.finalEvaluation?.startsWith(`eval/${result.stages['stage-3']!.manifestSha256}/`));
    const events = (await client.workflow.getHandle(runWorkflowId(runId)).fetchHistory()).events ?? [];
    assert.deepEqual(
      events.filter((e) => e.startChildWorkflowExecutionFailedEventAttributes),
      [],
      'no failed child start in the pipeline',
    );
    // Each evaluation says which run and step it belongs to (memo and search attributes), so the UI list is readable.
    const evals: Array<{ id: string; memo: Record<string, unknown> | undefined; step: unknown }> = [];
    for await (const wf of client.workflow.list({ query: `WorkflowType = 'evaluateCheckpoint' AND RealgenRunId = '${runId}'` })) {
      evals.push({ id: wf.workflowId, memo: wf.memo, step: wf.typedSearchAttributes.get(CHECKPOINT_STEP) });
    }
    assert.ok(
      evals.some((e) => e.id === result.finalEvaluation),
      `the final evaluation is listed under the run: ${JSON.stringify(evals)}`,
    );
    for (const e of evals) {
      assert.equal(e.memo?.runId, runId);
      assert.equal(typeof e.memo?.step, 'number');
      assert.equal(e.step, e.memo?.step);
    }
    const evaluation = await client.workflow.getHandle(result.finalEvaluation!).result();
    assert.ok(evaluation);
    // Its report plots the stage's training reward curve, read from the checkpoint's state.
    const reportChunks: Buffer[] = [];
    for await (const c of await ctx.store.client.getObject(
      ctx.store.bucket,
      `evals/${result.finalEvaluation!.replace(/^eval\//, '')}/report.json`,
    ))
      reportChunks.push(c as Buffer);
    const report = JSON.parse(Buffer.concat(reportChunks).toString()) as { charts: Array<{ name: string }> };
    assert.ok(
      report.charts.some((c) => c.name === 'reward'),
      `charts: ${report.charts.map((c) => c.name).join(', ')}`,
    );

    // Secret scan over every workflow of this run (pipeline, stages, evaluations).
    const s = await testStack();
    const secrets = [s.credentials.secretKey, s.credentials.accessKey, judgeSecret];
    const ids = [runWorkflowId(runId), `run/${runId}/stage/1`, `run/${runId}/stage/2`, `run/${runId}/stage/3`];
    for await (const wf of client.workflow.list({ query: `WorkflowType = 'evaluateCheckpoint'` })) ids.push(wf.workflowId);
    for (const id of ids) {
      const r = spawnSync(
        TEMPORAL_BIN,
        ['workflow', 'show', '--workflow-id', id, '--output', 'json', '--address', s.temporalAddress],
        { encoding: 'utf8', maxBuffer: 256 << 20 },
      );
      assert.equal(r.status, 0, r.stderr);
      // Payloads are base64 JSON: decode every data field before searching.
      const decoded = [...r.stdout.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)]
        .map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'))
        .join('\n');
      for (const secret of secrets) {
        assert.ok(!r.stdout.includes(secret) && !decoded.includes(secret), `${id} history holds a secret value`);
      }
      if (id === runWorkflowId(runId))
        assert.ok(decoded.includes('secretAccessKey'), 'the config (with its secret references only) is in the history');
    }
    assert.ok(!readFileSync(ctx.loaded.file, 'utf8').includes(s.credentials.secretKey));
    await maybeRecordHistory(client, runWorkflowId(runId), 'realgenPipeline');
  });
});
