/** The evaluation watcher for an outside trainer's checkpoints, on the real stack. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { checkpointPrefix } from '../../contracts/checkpoint-manifest';
import { watchWorkflowId } from '../../contracts/ids';
import type { WatchProgress } from '../../workflows/watch-checkpoints';
import type { WorkerContext } from '../../workers/worker-context';
import { testConfigFile } from '../helpers/stack';
import { maybeRecordHistory } from '../helpers/temporal';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';

let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;

describe('watchCheckpoints workflow (real stack)', () => {
  before(async () => {
    workers = await startTestWorkers(await testConfigFile());
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
  });

  it('starts one evaluation per committed checkpoint at the frequency, never for half-written ones, once', async () => {
    const runId = `outside-${Date.now()}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-watch-'));
    for (const step of [1, 2, 3, 4]) {
      const file = path.join(dir, `w${step}.bin`);
      writeFileSync(file, `weights ${step}`);
      await ctx.store.commitCheckpoint({
        runId,
        stage: 'stage-2',
        step,
        files: [{ path: 'lora/w.bin', localPath: file }],
        configDigest: ctx.loaded.digest,
        parent: null,
        producer: { name: 'outside', version: '1' },
      });
    }
    const half = path.join(dir, 'half.bin');
    writeFileSync(half, 'partial');
    await ctx.store.putFile(`${checkpointPrefix(runId, 'stage-2', 6)}lora/w.bin`, half);

    const watch = (id: string) =>
      client.workflow.execute('watchCheckpoints', {
        workflowId: id,
        taskQueue: ctx.config.taskQueues.cpu,
        args: [
          {
            runId,
            stage: 'stage-2',
            evalEvery: 2,
            pollSeconds: 1,
            maxPolls: 2,
            config: ctx.config,
            configBaseDir: ctx.loaded.baseDir,
            configDigest: ctx.loaded.digest,
          },
        ],
      }) as Promise<WatchProgress>;
    const first = await watch(watchWorkflowId(runId, 'stage-2'));
    const shas = await Promise.all(
      [2, 4].map(async (s) => (await ctx.store.readManifest(checkpointPrefix(runId, 'stage-2', s))).sha256),
    );
    const suite = ctx.config.realbench.suite;
    assert.deepEqual(
      first.started,
      shas.map((sha) => `eval/${sha}/${suite}`),
    );
    assert.equal(first.afterStep, 4, 'the half-written step 6 is not taken');
    await maybeRecordHistory(client, watchWorkflowId(runId, 'stage-2'), 'watchCheckpoints');
    // A second watcher over the same prefix starts nothing new: each checkpoint is evaluated once.
    const second = await watch(`${watchWorkflowId(runId, 'stage-2')}-again`);
    assert.deepEqual(second.started, []);
    for (const id of first.started)
      await client.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined);
  });
});
