/**
 * Pause holds the whole run (real stack, pipeline of two stages, fixture trainer): paused in the last segment of a
 * stage, the stage does not finish and the next stage does not start; paused at step 0, nothing trains. Both make
 * no progress while paused and finish after resume.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { runWorkflowId, stageWorkflowId } from '../../contracts/ids';
import {
  pauseUpdate,
  pipelineProgressQuery,
  resumeUpdate,
  runPauseUpdate,
  runResumeUpdate,
  stageProgressQuery,
  type StageProgress,
} from '../../contracts/training-messages';
import type { PipelineResult } from '../../workflows/realgen-pipeline';
import type { WorkerContext } from '../../workers/worker-context';
import { fixtureLauncher } from '../helpers/fixture-trainer';
import { testConfigFile } from '../helpers/stack';
import { maybeRecordHistory } from '../helpers/temporal';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';

let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;

/** Polls `read` until `predicate` holds (the workflows' own state, not a sleep). */
async function until<T>(read: () => Promise<T>, predicate: (v: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && predicate(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what} never happened; last ${JSON.stringify(v)}`);
    await delay(50);
  }
}

const stageProgress = (runId: string, stage: number) => () =>
  client.workflow.getHandle(stageWorkflowId(runId, stage)).query(stageProgressQuery);

/** Fixture trainers of one run (its job files live under a folder named for the run; other tests may run too). */
function fixtureProcesses(runId: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `counter-trainer.ts --job .*/${runId}/`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

async function exists(workflowId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).describe();
    return true;
  } catch {
    return false;
  }
}

function startRun(runId: string): Promise<WorkflowHandle> {
  return client.workflow.start('realgenPipeline', {
    workflowId: runWorkflowId(runId),
    taskQueue: ctx.config.taskQueues.cpu,
    args: [
      { runId, config: ctx.config, configBaseDir: ctx.loaded.baseDir, configDigest: ctx.loaded.digest, evaluateFinal: false },
    ],
  });
}

/** Nothing moves for `ms`: no step, no checkpoint, no trainer, no next stage; the stage reads as paused with no ETA. */
async function assertHolds(runId: string, stage: number, ms: number): Promise<StageProgress> {
  const before = await stageProgress(runId, stage)();
  const steps = await ctx.store.listCheckpointSteps(runId, `stage-${stage}`);
  assert.equal(before.state, 'paused');
  assert.equal(before.etaSeconds, null, 'no ETA while paused');
  assert.ok(before.pausedSince, 'paused since a time');
  assert.deepEqual(fixtureProcesses(runId), [], 'no trainer runs while paused');
  // The observation window: nothing may happen while paused.
  await delay(ms);
  const afterwards = await stageProgress(runId, stage)();
  assert.equal(afterwards.step, before.step);
  assert.equal(afterwards.state, 'paused');
  assert.deepEqual(await ctx.store.listCheckpointSteps(runId, `stage-${stage}`), steps);
  assert.equal(await exists(stageWorkflowId(runId, stage + 1)), false, 'the next stage does not start while paused');
  const pipeline = await client.workflow.getHandle(runWorkflowId(runId)).query(pipelineProgressQuery);
  assert.ok(pipeline.pausedSince, 'the run reports since when it is paused');
  assert.equal(pipeline.currentStage, stage);
  return afterwards;
}

describe('pause holds the whole run (real stack, fixture trainer)', () => {
  before(async () => {
    const file = await testConfigFile({
      mutate: (doc) => {
        for (const i of [0, 1]) {
          doc.setIn(['stages', i, 'budget'], doc.createNode({ maxSteps: 8, segmentSteps: 4, segmentMinutes: 10 }));
          doc.setIn(['stages', i, 'saveEvery'], 2);
          doc.setIn(['stages', i, 'evalEvery'], 1000);
          doc.setIn(['stages', i, 'stallTimeoutSeconds'], 20);
        }
        doc.setIn(['stages', 2, 'enabled'], false);
        doc.setIn(['workers', 'gpu', 'shutdownGraceSeconds'], 5);
      },
    });
    workers = await startTestWorkers(file, { launcher: fixtureLauncher({ FIXTURE_STEP_MS: '150' }) });
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
  });

  it('paused in the last segment of a stage: the stage does not finish, the next does not start; resume finishes', async () => {
    const runId = `pause-last-${Date.now()}`;
    const run = await startRun(runId);
    // The second (last) segment of stage 1 is running.
    await until(stageProgress(runId, 1), (p) => p.segment === 1 && p.state === 'running', 'stage-1 in its last segment');
    const ack = await run.executeUpdate(runPauseUpdate);
    assert.equal(ack.paused, true);
    assert.equal(ack.stage, 1);
    await until(stageProgress(runId, 1), (p) => p.state === 'paused', 'stage-1 paused');
    const held = await assertHolds(runId, 1, 5_000);
    assert.ok(held.step <= 8);
    await run.executeUpdate(runResumeUpdate);
    const result = (await run.result()) as PipelineResult;
    assert.equal(result.stages['stage-1']?.step, 8);
    assert.equal(result.stages['stage-2']?.step, 8);
    // Histories with the pause paths (forwarded signal, stopped segment read back) for the replay test.
    await maybeRecordHistory(client, runWorkflowId(runId), 'realgenPipeline');
    await maybeRecordHistory(client, stageWorkflowId(runId, 1), 'trainStage');
  });

  it('paused at step 0: no step is trained while paused; resume finishes', async () => {
    const runId = `pause-zero-${Date.now()}`;
    const run = await startRun(runId);
    await until(stageProgress(runId, 1), (p) => p.step === 0, 'stage-1 started');
    const ack = await run.executeUpdate(runPauseUpdate);
    assert.equal(ack.paused, true);
    await until(stageProgress(runId, 1), (p) => p.state === 'paused', 'stage-1 paused');
    await assertHolds(runId, 1, 5_000);
    await run.executeUpdate(runResumeUpdate);
    const result = (await run.result()) as PipelineResult;
    assert.equal(result.stages['stage-1']?.step, 8);
    assert.equal(result.stages['stage-2']?.step, 8);
  });

  it('a stage paused on its own (`realgen pause --stage 1`) in its last segment also holds the run', async () => {
    const runId = `pause-stage-${Date.now()}`;
    const run = await startRun(runId);
    await until(stageProgress(runId, 1), (p) => p.segment === 1 && p.state === 'running', 'stage-1 in its last segment');
    const stage = client.workflow.getHandle(stageWorkflowId(runId, 1));
    assert.equal((await stage.executeUpdate(pauseUpdate)).paused, true);
    await until(stageProgress(runId, 1), (p) => p.state === 'paused', 'stage-1 paused');
    const before = await stageProgress(runId, 1)();
    await delay(5_000);
    const afterwards = await stageProgress(runId, 1)();
    assert.equal(afterwards.state, 'paused', 'the stage does not finish while paused, even at maxSteps');
    assert.equal(afterwards.step, before.step);
    assert.equal(await exists(stageWorkflowId(runId, 2)), false, 'the next stage does not start while paused');
    await stage.executeUpdate(resumeUpdate);
    const result = (await run.result()) as PipelineResult;
    assert.equal(result.stages['stage-2']?.step, 8);
  });
});
