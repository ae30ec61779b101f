/**
 * `realgen retry RUN` on the real stack with the fixture trainer: a run whose trainer fails for good (its model file
 * removed) is retried after the file is restored, under the same run id, from the last checkpoint, with no step
 * trained twice; a running run and a run without checkpoints get a clear message instead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { runWorkflowId } from '../../contracts/ids';
import { runPauseUpdate } from '../../contracts/training-messages';
import type { PipelineResult } from '../../workflows/realgen-pipeline';
import type { WorkerContext } from '../../workers/worker-context';
import { fixtureLauncher } from '../helpers/fixture-trainer';
import { testConfigFile } from '../helpers/stack';
import { realgenProcess, stepsTrained } from '../helpers/cli-process';
import { startPipeline, startTestWorkers, type TestWorkers } from '../helpers/workers';

const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-retry-'));
const modelFile = path.join(dir, 'model.bin');
const stepLog = path.join(dir, 'steps.log');
let configFile: string;
let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;

const realgen = (...args: string[]) => realgenProcess(args);
const startRun = (runId: string) => startPipeline(workers, runId);
const trainedSteps = (runId: string) => stepsTrained(stepLog, runId);

describe('realgen retry (real stack, fixture trainer)', () => {
  before(async () => {
    writeFileSync(modelFile, 'weights');
    writeFileSync(stepLog, '');
    configFile = await testConfigFile({
      mutate: (doc) => {
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 8, segmentSteps: 4, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 1);
        doc.setIn(['stages', 0, 'evalEvery'], 1000);
        doc.setIn(['stages', 1, 'enabled'], false);
        doc.setIn(['stages', 2, 'enabled'], false);
      },
    });
    const launcher = fixtureLauncher({ FIXTURE_STEP_MS: '150', FIXTURE_MODEL_FILE: modelFile, FIXTURE_STEP_LOG: stepLog });
    workers = await startTestWorkers(configFile, { launcher });
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
  });

  it('resumes a run that failed for good, once the cause is fixed: same run id, last checkpoint, no step twice', async () => {
    const runId = `retry-${Date.now()}`;
    const first = await startRun(runId);
    // Part-way through the second segment (the trainer's own step log, read as it is written).
    const deadline = Date.now() + 60_000;
    while (!trainedSteps(runId).includes(5)) {
      assert.ok(Date.now() < deadline, 'stage-1 never reached step 5');
      await delay(20);
    }
    // The model file goes away: the trainer fails for good (ConfigInvalid is not retried) and so does the run.
    renameSync(modelFile, `${modelFile}.away`);
    await assert.rejects(first.result(), WorkflowFailedError);
    const failedAt = (await ctx.store.latestValidCheckpoint(runId, 'stage-1')).ref?.step ?? 0;
    assert.ok(failedAt >= 5 && failedAt < 8, `failed part-way (last checkpoint ${failedAt})`);
    // `status` of the failed run says why, naming the missing file (not only the Temporal history does).
    const status = await realgen('status', runId, '-c', configFile);
    assert.match(status.stdout, /^failed: ConfigInvalid: .*model/m, status.stdout + status.stderr);

    renameSync(`${modelFile}.away`, modelFile);
    const retried = await realgen('retry', runId, '-c', configFile);
    assert.equal(retried.status, 0, retried.stderr);
    assert.match(
      retried.stdout,
      new RegExp(`retrying run ${runId} \\(failed execution ${first.firstExecutionRunId} → new execution`),
    );
    assert.match(retried.stdout, new RegExp(`resuming stage-1 from step ${failedAt}`));

    const latest = client.workflow.getHandle(runWorkflowId(runId));
    const result = (await latest.result()) as PipelineResult;
    assert.equal(result.stages['stage-1']?.step, 8);
    // Every step trained exactly once across both executions: the retry resumed from the last checkpoint.
    assert.deepEqual(trainedSteps(runId), [1, 2, 3, 4, 5, 6, 7, 8]);
    // The new execution names the one it retries, so the history reads as one run.
    const desc = await latest.describe();
    assert.notEqual(desc.runId, first.firstExecutionRunId);
    assert.deepEqual(desc.memo?.retryOf, { runId: first.firstExecutionRunId, status: 'FAILED' });
  });

  it('says so when the run is still running', async () => {
    const runId = `retry-running-${Date.now()}`;
    const run = await startRun(runId);
    // Paused, the run stays RUNNING however slow the CLI is to start.
    await run.executeUpdate(runPauseUpdate);
    const r = await realgen('retry', runId, '-c', configFile);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`run ${runId} is still running`));
    await run.cancel();
    await assert.rejects(run.result(), WorkflowFailedError);
  });

  it('says so when there is no checkpoint to resume from', async () => {
    const runId = `retry-none-${Date.now()}`;
    renameSync(modelFile, `${modelFile}.away`);
    try {
      await assert.rejects((await startRun(runId)).result(), WorkflowFailedError);
    } finally {
      renameSync(`${modelFile}.away`, modelFile);
    }
    const r = await realgen('retry', runId, '-c', configFile);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      new RegExp(`run ${runId} has no valid checkpoint to resume from .*realgen run <config> --run-id ${runId}`),
    );
  });
});
