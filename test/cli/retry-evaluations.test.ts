/**
 * `realgen retry RUN` re-runs the evaluations an earlier execution did not finish (issue 11 item 9): on the real
 * stack with the fixture trainer, a run whose step-2 evaluation failed for good (its held-out detector manifest was
 * missing) and whose trainer then failed for good (its model file removed) is retried once both files are back; the
 * retry says which evaluation it starts again, and that evaluation finishes, while the retried stage trains on from
 * its last checkpoint. A retried run whose first stage had finished says so instead of "resuming" it.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { checkpointPrefix } from '../../contracts/checkpoint-manifest';
import { evalWorkflowId, runWorkflowId } from '../../contracts/ids';
import type { PipelineResult } from '../../workflows/realgen-pipeline';
import type { WorkerContext } from '../../workers/worker-context';
import { fixtureLauncher } from '../helpers/fixture-trainer';
import { testConfigFile } from '../helpers/stack';
import { realgenProcess, stepsTrained } from '../helpers/cli-process';
import { startPipeline, startTestWorkers, type TestWorkers } from '../helpers/workers';
import { untilTrue } from '../helpers/until';

const until = (what: string, check: () => Promise<boolean> | boolean) => untilTrue(what, check, 120_000, 50);

const repo = path.resolve(__dirname, '..', '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-retry-evals-'));
const modelFile = path.join(dir, 'model.bin');
const stepLog = path.join(dir, 'steps.log');
// The evaluation-only detector, copied so the test can take its manifest away without touching the repo's.
const heldoutManifest = path.join(dir, 'detector-residual.json');
let configFile: string;
let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;

const realgen = (...args: string[]) => realgenProcess(args);
const trainedSteps = (runId: string) => stepsTrained(stepLog, runId);

/** The evaluation workflow id of the run's stage-1 checkpoint at `step`. */
async function evaluationOf(runId: string, step: number): Promise<string> {
  const { sha256 } = await ctx.store.readManifest(checkpointPrefix(runId, 'stage-1', step));
  return evalWorkflowId(sha256, ctx.config.realbench.suite);
}

const startRun = (runId: string) => startPipeline(workers, runId);

const statusOf = async (workflowId: string) =>
  (
    await client.workflow
      .getHandle(workflowId)
      .describe()
      .catch(() => null)
  )?.status.name ?? null;

describe('realgen retry re-runs unfinished evaluations (real stack, fixture trainer)', () => {
  before(async () => {
    writeFileSync(modelFile, 'weights');
    writeFileSync(stepLog, '');
    for (const f of ['detector-residual.json', 'detector-residual.onnx'])
      copyFileSync(path.join(repo, 'models', 'realgen-mini', f), path.join(dir, f));
    configFile = await testConfigFile({
      mutate: (doc) => {
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 6, segmentSteps: 2, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 2);
        doc.setIn(['stages', 0, 'evalEvery'], 2);
        doc.setIn(['models', 'roots'], doc.createNode([dir]));
        doc.setIn(['stages', 1, 'budget'], doc.createNode({ maxSteps: 2, segmentSteps: 2, segmentMinutes: 10 }));
        doc.setIn(['stages', 1, 'saveEvery'], 2);
        doc.setIn(['stages', 1, 'evalEvery'], 1000);
        doc.setIn(['stages', 2, 'enabled'], false);
        const evalDetectors = (doc.getIn(['evaluation', 'detectors']) as { items: unknown[] }).items;
        for (let i = 0; i < evalDetectors.length; i++) {
          if (doc.getIn(['evaluation', 'detectors', i, 'name']) === 'residual-heldout')
            doc.setIn(['evaluation', 'detectors', i, 'manifest'], heldoutManifest);
        }
      },
    });
    const launcher = fixtureLauncher({ FIXTURE_STEP_MS: '200', FIXTURE_MODEL_FILE: modelFile, FIXTURE_STEP_LOG: stepLog });
    workers = await startTestWorkers(configFile, { launcher });
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
  });

  it('starts the failed evaluation again and skips none that is due', async () => {
    const runId = `retry-evals-${Date.now()}`;
    renameSync(heldoutManifest, `${heldoutManifest}.away`);
    const first = await startRun(runId);
    // The trainer fails for good in its second segment, after checkpoint 2 was committed and its evaluation started.
    await until('step 3 was trained', () => trainedSteps(runId).includes(3));
    renameSync(modelFile, `${modelFile}.away`);
    await assert.rejects(first.result(), WorkflowFailedError);
    const eval2 = await evaluationOf(runId, 2);
    await until('the step-2 evaluation failed', async () => (await statusOf(eval2)) === 'FAILED');
    const failedAt = (await ctx.store.latestValidCheckpoint(runId, 'stage-1')).ref?.step ?? 0;
    assert.ok(failedAt >= 2 && failedAt < 6, `failed part-way (last checkpoint ${failedAt})`);

    renameSync(modelFile.concat('.away'), modelFile);
    renameSync(`${heldoutManifest}.away`, heldoutManifest);
    const retried = await realgen('retry', runId, '-c', configFile);
    assert.equal(retried.status, 0, retried.stderr);
    assert.match(retried.stdout, new RegExp(`resuming stage-1 from step ${failedAt}\n`));
    assert.match(retried.stdout, /evaluations that did not finish, started again: stage-1@2[, ]/);

    const result = (await client.workflow.getHandle(runWorkflowId(runId)).result()) as PipelineResult;
    assert.equal(result.stages['stage-1']?.step, 6);
    assert.deepEqual(trainedSteps(runId), [1, 2, 3, 4, 5, 6, 1, 2], 'no step trained twice (stage 1, then stage 2)');
    // The evaluation that failed in the first execution ran again and finished, as did the new checkpoints'.
    for (const step of [2, 4, 6]) {
      const id = await evaluationOf(runId, step);
      const result = await client.workflow.getHandle(id).result();
      assert.ok(result, `evaluation of step ${step} finished`);
      assert.equal(await statusOf(id), 'COMPLETED', `evaluation of step ${step}`);
    }
  });

  it('says a finished stage is finished instead of "resuming" it, and trains only what is left', async () => {
    const runId = `retry-finished-${Date.now()}`;
    const run = await startRun(runId);
    // Stage 1 finishes (checkpoint 6); stage 2's trainer then fails for good before its first step.
    await until(
      'stage 1 committed step 6',
      async () => (await ctx.store.latestValidCheckpoint(runId, 'stage-1')).ref?.step === 6,
    );
    renameSync(modelFile, `${modelFile}.away`);
    await assert.rejects(run.result(), WorkflowFailedError);
    renameSync(`${modelFile}.away`, modelFile);
    const r = await realgen('retry', runId, '-c', configFile);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /finished, not trained again: stage-1 \(step 6\)/);
    assert.match(r.stdout, /not started yet: stage-2/);
    assert.doesNotMatch(r.stdout, /resuming stage-1/);
    const result = (await client.workflow.getHandle(runWorkflowId(runId)).result()) as PipelineResult;
    assert.equal(result.stages['stage-2']?.step, 2);
    assert.deepEqual(trainedSteps(runId), [1, 2, 3, 4, 5, 6, 1, 2], 'stage 1 was not trained again');
  });
});
