/**
 * The training stage workflow on the real stack with the protocol fixture trainer: segments to the budget,
 * pause/resume, setMaxSteps validation, cancellation with a checkpoint flush and no trainer left behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { stageWorkflowId } from '../../contracts/ids';
import type { TrainStageResult } from '../../workflows/train-stage';
import {
  pauseUpdate,
  resumeUpdate,
  setMaxStepsUpdate,
  stageProgressQuery,
  type StageProgress,
} from '../../contracts/training-messages';
import type { WorkerContext } from '../../workers/worker-context';
import { describeLiveness, segmentLiveness } from '../../infra/temporal/segment-liveness';
import { fixtureLauncher } from '../helpers/fixture-trainer';
import { testConfigFile } from '../helpers/stack';
import { maybeRecordHistory } from '../helpers/temporal';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';

let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;

/** Polls the progress query until `predicate` holds (the workflow's own state, not a sleep). */
async function until(
  handle: WorkflowHandle,
  predicate: (p: StageProgress) => boolean,
  timeoutMs = 60_000,
): Promise<StageProgress> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await handle.query(stageProgressQuery);
    if (predicate(p)) return p;
    if (Date.now() > deadline) throw new Error(`progress never matched; last ${JSON.stringify(p)}`);
    await delay(100);
  }
}

function fixtureProcesses(): string[] {
  try {
    return execFileSync('pgrep', ['-f', 'counter-trainer.ts'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function start(runId: string, maxSteps: number) {
  return client.workflow.start('trainStage', {
    workflowId: stageWorkflowId(runId, 1),
    taskQueue: ctx.config.taskQueues.cpu,
    args: [
      {
        runId,
        stage: 1,
        config: {
          ...ctx.config,
          stages: ctx.config.stages.map((s, i) => (i === 0 ? { ...s, budget: { ...s.budget, maxSteps } } : s)),
        },
        configBaseDir: ctx.loaded.baseDir,
        configDigest: ctx.loaded.digest,
        initFrom: {},
      },
    ],
  });
}

describe('trainStage workflow (real stack, fixture trainer)', () => {
  before(async () => {
    const file = await testConfigFile({
      mutate: (doc) => {
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 12, segmentSteps: 4, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 2);
        doc.setIn(['stages', 0, 'evalEvery'], 1000);
        doc.setIn(['stages', 0, 'stallTimeoutSeconds'], 10);
        doc.setIn(['workers', 'gpu', 'shutdownGraceSeconds'], 5);
      },
    });
    workers = await startTestWorkers(file, { launcher: fixtureLauncher({ FIXTURE_STEP_MS: '40' }) });
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
  });

  it('runs segments to the step budget and reports progress', async () => {
    const runId = `stage-${Date.now()}`;
    const handle = await start(runId, 12);
    const result = (await handle.result()) as TrainStageResult;
    assert.equal(result.step, 12);
    assert.equal(result.lastCheckpoint?.step, 12);
    const p = await handle.query(stageProgressQuery);
    assert.equal(p.state, 'done');
    assert.equal(p.segment, 3, '12 steps in segments of 4');
    assert.equal(p.recentRewards.at(-1)?.step, 12);
    const latest = await ctx.store.latestValidCheckpoint(runId, 'stage-1');
    assert.deepEqual(await ctx.store.listCheckpointSteps(runId, 'stage-1'), [12, 10, 8, 6, 4, 2]);
    assert.equal(latest.ref?.manifestSha256, result.lastCheckpoint?.manifestSha256);
    await maybeRecordHistory(client, stageWorkflowId(runId, 1), 'trainStage');
  });

  it('pauses (no new steps for 10 s), resumes and finishes; validates setMaxSteps', async () => {
    const runId = `pause-${Date.now()}`;
    const handle = await start(runId, 40);
    await until(handle, (p) => p.step >= 4 || (p.lastCheckpoint?.step ?? 0) >= 2);
    const ack = await handle.executeUpdate(pauseUpdate);
    assert.equal(ack.paused, true);
    const paused = await until(handle, (p) => p.state === 'paused');
    const steps = await ctx.store.listCheckpointSteps(runId, 'stage-1');
    assert.deepEqual(fixtureProcesses(), [], 'no trainer runs while paused');
    // The observation window the acceptance asks for: nothing may happen for 10 s.
    await delay(10_000);
    assert.deepEqual(await ctx.store.listCheckpointSteps(runId, 'stage-1'), steps);
    assert.equal((await handle.query(stageProgressQuery)).step, paused.step);
    const rejected = (pattern: RegExp) => (err: Error & { cause?: Error }) => pattern.test(err.cause?.message ?? '');
    await assert.rejects(
      handle.executeUpdate(setMaxStepsUpdate, { args: [0] }),
      rejected(/maxSteps: expected an integer ≥ 1, got 0/),
    );
    await assert.rejects(
      handle.executeUpdate(setMaxStepsUpdate, { args: [1] }),
      rejected(/expected at least the \d+ steps already completed/),
    );
    assert.deepEqual(await handle.executeUpdate(setMaxStepsUpdate, { args: [16] }), { maxSteps: 16 });
    await handle.executeUpdate(resumeUpdate);
    const result = (await handle.result()) as TrainStageResult;
    assert.equal(result.step, 16);
  });

  it('a lost worker shows at once: short segment heartbeat timeout by default, heartbeat age visible', async () => {
    const runId = `liveness-${Date.now()}`;
    // The preset's stall timeout (120 s) used to be the heartbeat timeout too: a dead worker went unnoticed for 2 min.
    const stages = ctx.config.stages.map((s, i) =>
      i === 0 ? { ...s, stallTimeoutSeconds: 120, budget: { ...s.budget, maxSteps: 24 } } : s,
    );
    const config = { ...ctx.config, stages };
    const handle = await client.workflow.start('trainStage', {
      workflowId: stageWorkflowId(runId, 1),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [{ runId, stage: 1, config, configBaseDir: ctx.loaded.baseDir, configDigest: ctx.loaded.digest, initFrom: {} }],
    });
    const progress = await handle.query(stageProgressQuery);
    assert.equal(progress.heartbeatTimeoutSeconds, 10, 'workers.gpu.heartbeatTimeoutSeconds defaults to 10 s');
    const deadline = Date.now() + 30_000;
    let live = await segmentLiveness(handle, progress.heartbeatTimeoutSeconds);
    while (live?.state !== 'started' || live.lastHeartbeatAgeSeconds === null) {
      assert.ok(Date.now() < deadline, `no running segment seen; last ${JSON.stringify(live)}`);
      await delay(50);
      live = await segmentLiveness(handle, progress.heartbeatTimeoutSeconds);
    }
    assert.equal(live.workerLost, false);
    assert.ok(live.lastHeartbeatAgeSeconds <= 10, `heartbeat ${live.lastHeartbeatAgeSeconds}s ago`);
    assert.match(describeLiveness(live), /^heartbeat \d+s ago/);
    await handle.result();
    const scheduled = ((await handle.fetchHistory()).events ?? []).flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      return a?.activityType?.name === 'runTrainerSegment' ? [Number(a.heartbeatTimeout?.seconds ?? 0)] : [];
    });
    assert.ok(scheduled.length > 0);
    assert.deepEqual([...new Set(scheduled)], [10], 'every segment is scheduled with the 10 s heartbeat timeout');
  });

  it('cancel: the trainer flushes a checkpoint, the last checkpoint is valid, no trainer process is left', async () => {
    const runId = `cancel-${Date.now()}`;
    const handle = await start(runId, 400);
    await until(handle, (p) => (p.lastCheckpoint?.step ?? 0) >= 2 || p.step >= 3);
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
    const latest = await ctx.store.latestValidCheckpoint(runId, 'stage-1');
    assert.ok(latest.ref !== null);
    assert.deepEqual(latest.skipped, []);
    assert.deepEqual(fixtureProcesses(), []);
  });
});
