/**
 * GPU work in priority order on the real stack: with one GPU slot busy, three runs' trainer segments wait and then
 * start in priority order (1, 2, 3), whatever order they were submitted in; `realgen queue`'s view shows the busy
 * slot and the waiting ones in that order. Priority is Temporal's task-queue priority, honoured by the embedded dev
 * server thanks to its dynamic config (devstack/dev-stack.ts PRIORITY_DYNAMIC_CONFIG).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { stageWorkflowId } from '../../contracts/ids';
import { gpuQueueView, serveOrder, type QueueEntry } from '../../infra/temporal/gpu-queue';
import type { TrainStageResult } from '../../workflows/train-stage';
import type { WorkerContext } from '../../workers/worker-context';
import { fixtureLauncher } from '../helpers/fixture-trainer';
import { testConfigFile } from '../helpers/stack';
import { maybeRecordHistory } from '../helpers/temporal';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';
import { until } from '../helpers/until';

let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;

/** State of the stage's pending trainer segment: 1 scheduled (waiting), 2 started. */
async function segmentState(handle: WorkflowHandle): Promise<number | undefined> {
  const desc = await handle.describe();
  const a = desc.raw.pendingActivities?.find((p) => p.activityType?.name === 'runTrainerSegment');
  return a ? Number(a.state) : undefined;
}

/** When the stage's first trainer segment started on a worker (its ActivityTaskStarted event). */
async function firstSegmentStart(handle: WorkflowHandle): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  // The stage runs CPU activities too (e.g. the evaluation backlog at its start): only the trainer segment counts.
  const segmentScheduled = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runTrainerSegment')
      .map((e) => String(e.eventId)),
  );
  const started = events.find(
    (e) =>
      e.activityTaskStartedEventAttributes && segmentScheduled.has(String(e.activityTaskStartedEventAttributes.scheduledEventId)),
  );
  const t = started?.eventTime;
  assert.ok(t, `${handle.workflowId} started a segment`);
  return Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

function startStage(runId: string, priority: number, maxSteps: number) {
  const config = {
    ...ctx.config,
    priority,
    // One segment for the whole budget: the blocker must hold the slot until it is cancelled (with 4-step segments it
    // let go between segments, and a waiting run took the slot before the test looked).
    stages: ctx.config.stages.map((s, i) => (i === 0 ? { ...s, budget: { ...s.budget, maxSteps, segmentSteps: maxSteps } } : s)),
  };
  return client.workflow.start('trainStage', {
    workflowId: stageWorkflowId(runId, 1),
    taskQueue: ctx.config.taskQueues.cpu,
    args: [{ runId, stage: 1, config, configBaseDir: ctx.loaded.baseDir, configDigest: ctx.loaded.digest, initFrom: {} }],
  });
}

describe('GPU queue priorities (real stack, one GPU slot)', () => {
  before(async () => {
    const file = await testConfigFile({
      mutate: (doc) => {
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 4, segmentSteps: 4, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 2);
        doc.setIn(['stages', 0, 'evalEvery'], 1000);
        doc.setIn(['workers', 'gpu', 'cpuSlots'], 1);
        doc.setIn(['workers', 'gpu', 'shutdownGraceSeconds'], 5);
      },
    });
    workers = await startTestWorkers(file, { launcher: fixtureLauncher({ FIXTURE_STEP_MS: '40' }) });
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
  });

  it('starts three runs submitted against one busy slot in priority order, and shows the queue in that order', async () => {
    const tag = `prio-${Date.now()}`;
    // The slot is taken by a long, low-priority run first.
    const blocker = await startStage(`${tag}-blocker`, 5, 10_000);
    await until('the blocker to hold the slot', async () => ((await segmentState(blocker)) === 2 ? true : undefined));
    // Submitted in the order 3, 1, 2; each waits (its segment is scheduled, not started) before the next is submitted.
    const runs = new Map<number, WorkflowHandle>();
    for (const priority of [3, 1, 2]) {
      const h = await startStage(`${tag}-p${priority}`, priority, 4);
      await until(`p${priority} to wait for the slot`, async () => ((await segmentState(h)) === 1 ? true : undefined));
      runs.set(priority, h);
    }

    const view = await gpuQueueView(client, ctx.config.taskQueues.gpu);
    const mine = (entries: QueueEntry[]) => entries.filter((e) => e.workflowId.includes(tag));
    assert.deepEqual(
      mine(view.running).map((e) => e.workflowId),
      [blocker.workflowId],
    );
    assert.equal(mine(view.running)[0]?.priority, 5);
    assert.ok(mine(view.running)[0]?.worker, 'the running segment names its worker');
    assert.deepEqual(
      mine(view.waiting).map((e) => [e.workflowId, e.priority, e.fairnessKey]),
      [1, 2, 3].map((p) => [runs.get(p)!.workflowId, p, `${tag}-p${p}`]),
    );

    // Free the slot: the blocker is cancelled (its trainer commits and stops first).
    await blocker.cancel();
    for (const p of [1, 2, 3]) assert.equal(((await runs.get(p)!.result()) as TrainStageResult).step, 4);
    const starts = await Promise.all([1, 2, 3].map((p) => firstSegmentStart(runs.get(p)!)));
    assert.ok(
      starts[0]! <= starts[1]! && starts[1]! <= starts[2]!,
      `segments started in priority order 1, 2, 3: ${JSON.stringify(starts)}`,
    );
    await maybeRecordHistory(client, runs.get(1)!.workflowId, 'trainStage');
  });

  it('orders waiting work by priority, then round-robin between runs of equal priority', () => {
    const e = (workflowId: string, priority: number, fairnessKey: string, at: number): QueueEntry => ({
      workflowId,
      activity: 'runTrainerSegment',
      priority,
      fairnessKey,
      attempt: 1,
      scheduledAt: new Date(at).toISOString(),
      worker: null,
      gpus: null,
    });
    const order = serveOrder([
      e('a1', 3, 'a', 1),
      e('a2', 3, 'a', 2),
      e('a3', 3, 'a', 3),
      e('b1', 3, 'b', 4),
      e('c1', 1, 'c', 5),
      e('b2', 3, 'b', 6),
    ]);
    assert.deepEqual(
      order.map((x) => x.workflowId),
      ['c1', 'a1', 'b1', 'a2', 'b2', 'a3'],
    );
  });
});
