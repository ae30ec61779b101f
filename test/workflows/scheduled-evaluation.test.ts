/**
 * Scheduled evaluations on the real stack: `realgen schedule eval`'s Temporal Schedule (a short interval; ticks
 * triggered with `handle.trigger()` rather than waited for) evaluates the run's newest committed checkpoint once; a
 * tick with nothing new starts nothing; a newer checkpoint is evaluated on the next tick; `ls` lists it, `rm` removes it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client, ScheduleHandle } from '@temporalio/client';
import { checkpointPrefix } from '../../contracts/checkpoint-manifest';
import { createEvalSchedule, listEvalSchedules, removeEvalSchedule } from '../../infra/temporal/eval-schedules';
import { parseShortDuration } from '../../lib/duration';
import type { ScheduledEvaluationResult } from '../../workflows/scheduled-evaluation';
import type { WorkerContext } from '../../workers/worker-context';
import { testConfigFile } from '../helpers/stack';
import { maybeRecordHistory } from '../helpers/temporal';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';

let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;

/** Triggers one tick and returns what it did (polls the schedule's recent actions; no sleeping on the interval). */
async function tick(handle: ScheduleHandle): Promise<{ workflowId: string; result: ScheduledEvaluationResult }> {
  const before = (await handle.describe()).info.recentActions.length;
  await handle.trigger();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const actions = (await handle.describe()).info.recentActions;
    const action = actions.length > before ? actions.at(-1)?.action : undefined;
    if (action?.type === 'startWorkflow') {
      const result = (await client.workflow
        .getHandle(action.workflow.workflowId, action.workflow.firstExecutionRunId)
        .result()) as ScheduledEvaluationResult;
      return { workflowId: action.workflow.workflowId, result };
    }
    if (Date.now() > deadline) throw new Error('the triggered tick never started');
    await delay(100);
  }
}

describe('scheduled evaluations (real stack)', () => {
  before(async () => {
    workers = await startTestWorkers(await testConfigFile());
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
  });

  it('evaluates the newest committed checkpoint once per new checkpoint, and is listed and removed', async () => {
    const runId = `sched-${Date.now()}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-sched-'));
    const commit = async (step: number) => {
      const file = path.join(dir, `w${step}.bin`);
      writeFileSync(file, `weights ${step}`);
      await ctx.store.commitCheckpoint({
        runId,
        stage: 'stage-1',
        step,
        files: [{ path: 'policy.json', localPath: file }],
        configDigest: ctx.loaded.digest,
        parent: null,
        producer: { name: 'test', version: '1' },
      });
      return (await ctx.store.readManifest(checkpointPrefix(runId, 'stage-1', step))).sha256;
    };
    const suite = ctx.config.realbench.suite;
    const started: string[] = [];
    const id = await createEvalSchedule(client, ctx.loaded, runId, undefined, parseShortDuration('30s', '--every'));
    try {
      const handle = client.schedule.getHandle(id);
      // Nothing committed yet: the tick finds nothing.
      const empty = await tick(handle);
      assert.deepEqual(empty.result, { checkpoint: null, evaluation: null, started: false });

      await commit(2);
      const sha4 = await commit(4);
      const first = await tick(handle);
      assert.equal(first.result.checkpoint?.step, 4, 'the newest checkpoint');
      assert.equal(first.result.evaluation, `eval/${sha4}/${suite}`);
      assert.equal(first.result.started, true);
      started.push(first.result.evaluation!);
      await maybeRecordHistory(client, first.workflowId, 'scheduledEvaluation');

      // Nothing new: a no-op (the evaluation id is the checkpoint's hash).
      const again = await tick(handle);
      assert.equal(again.result.evaluation, first.result.evaluation);
      assert.equal(again.result.started, false);

      const sha6 = await commit(6);
      const next = await tick(handle);
      assert.equal(next.result.evaluation, `eval/${sha6}/${suite}`);
      assert.equal(next.result.started, true);
      started.push(next.result.evaluation!);

      const rows = await listEvalSchedules(client);
      const row = rows.find((r) => r.id === id);
      assert.deepEqual({ run: row?.run, stage: row?.stage, every: row?.every }, { run: runId, stage: 'all', every: '30s' });
      await assert.rejects(
        createEvalSchedule(client, ctx.loaded, runId, undefined, 60_000),
        /already exists; remove it first with `realgen schedule rm --run/,
      );
    } finally {
      await removeEvalSchedule(client, runId, undefined);
      for (const e of started)
        await client.workflow
          .getHandle(e)
          .terminate('test done')
          .catch(() => undefined);
    }
    assert.ok(!(await listEvalSchedules(client)).some((r) => r.id === id), 'removed');
    await assert.rejects(removeEvalSchedule(client, runId, undefined), /no schedule schedule\/eval\//);
  });

  it('reads --every as 45s, 30m, 6h or 1d and names the flag otherwise', () => {
    assert.equal(parseShortDuration('6h', '--every'), 6 * 3600_000);
    assert.equal(parseShortDuration('1d', '--every'), 86_400_000);
    assert.throws(
      () => parseShortDuration('6 hours', '--every'),
      /--every: expected a duration like 45s, 30m, 6h or 1d, got "6 hours"/,
    );
  });
});
