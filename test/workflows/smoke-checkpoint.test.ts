/** The smoke workflow on the real Temporal dev server and the real MinIO, with both worker classes. */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { createCheckpointActivities } from '../../activities/checkpoint-activities';
import { smokeWorkflowId } from '../../contracts/ids';
import type { SmokeCheckpointResult } from '../../workflows/smoke-checkpoint';
import type { WorkerContext } from '../../workers/worker-context';
import { testConfigFile } from '../helpers/stack';
import { maybeRecordHistory } from '../helpers/temporal';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';
import { startWorkers } from '../../workers/create-workers';
import { createWorkerContext } from '../../workers/worker-context';

let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;

describe('smokeCheckpoint workflow (real stack)', () => {
  before(async () => {
    workers = await startTestWorkers(await testConfigFile());
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
  });

  it('commits a checkpoint on the GPU queue, then resolves and deep-verifies it on the CPU queue', async () => {
    const runId = `smoke-${Date.now()}`;
    const handle = await client.workflow.start('smokeCheckpoint', {
      workflowId: smokeWorkflowId(runId),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [{ runId, sizeBytes: 3 * 1024 * 1024 + 17, configDigest: ctx.loaded.digest, taskQueues: ctx.config.taskQueues }],
    });
    // A second start with the same business id is rejected by Temporal: that is our dedupe.
    await assert.rejects(
      client.workflow.start('smokeCheckpoint', {
        workflowId: smokeWorkflowId(runId),
        taskQueue: ctx.config.taskQueues.cpu,
        args: [{ runId, sizeBytes: 1, configDigest: ctx.loaded.digest, taskQueues: ctx.config.taskQueues }],
      }),
      WorkflowExecutionAlreadyStartedError,
    );
    const result = (await handle.result()) as SmokeCheckpointResult;
    assert.equal(result.committed.prefix, `runs/${runId}/smoke/checkpoints/000000001/`);
    assert.deepEqual(result.resolved, result.committed);
    assert.equal(result.verified.files, 2);
    assert.ok(result.verified.bytes > 3 * 1024 * 1024 + 17, 'payload plus state file');
    const { manifest } = await ctx.store.readManifest(result.committed.prefix);
    assert.equal(manifest.configDigest, ctx.loaded.digest);
    assert.deepEqual(
      manifest.files.map((f) => f.path),
      ['weights.bin', 'state.json'],
    );
    await maybeRecordHistory(client, smokeWorkflowId(runId), 'smokeCheckpoint');
  });

  it('fails with a non-retryable CheckpointCorrupt when an object is corrupted under a committed manifest', async () => {
    const runId = `smoke-corrupt-${Date.now()}`;
    await client.workflow.execute('smokeCheckpoint', {
      workflowId: smokeWorkflowId(runId),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [{ runId, sizeBytes: 1024, configDigest: ctx.loaded.digest, taskQueues: ctx.config.taskQueues }],
    });
    const { ref } = await ctx.store.latestValidCheckpoint(runId, 'smoke');
    assert.ok(ref);
    await ctx.store.client.putObject(ctx.store.bucket, `${ref.prefix}state.json`, Buffer.from('tampered'));
    const activities = createCheckpointActivities({
      store: ctx.store,
      workDir: ctx.workDir,
      producer: { name: 't', version: '1' },
    });
    await assert.rejects(
      activities.verifyCheckpoint(ref),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'CheckpointCorrupt' && err.nonRetryable === true && /state\.json: 8 bytes/.test(err.message),
    );
    assert.equal((await activities.resolveLatestCheckpoint({ runId, stage: 'smoke' })).ref, null);
  });

  // A deadline so that the old behaviour (a plain Error retries the workflow task forever) fails instead of hanging.
  it(
    'fails the run with CheckpointNotFound when the reading queue cannot see the committed checkpoint',
    { timeout: 60_000 },
    async () => {
      // A CPU worker on another bucket: a real misconfiguration in which the resolver finds nothing.
      const other = await createWorkerContext(await testConfigFile());
      const otherWorkers = await startWorkers(other, ['cpu']);
      writeFileSync(path.join(other.workDir, 'leftover.bin'), 'scratch');
      try {
        const runId = `smoke-lost-${Date.now()}`;
        const taskQueues = { gpu: ctx.config.taskQueues.gpu, cpu: other.config.taskQueues.cpu };
        const run = client.workflow.execute('smokeCheckpoint', {
          workflowId: smokeWorkflowId(runId),
          taskQueue: ctx.config.taskQueues.cpu,
          args: [{ runId, sizeBytes: 1024, configDigest: ctx.loaded.digest, taskQueues }],
        });
        await assert.rejects(run, (err: Error) => {
          assert.ok(err instanceof WorkflowFailedError, `expected the run to fail, got ${String(err)}`);
          const cause = err.cause as (Error & { type?: string; nonRetryable?: boolean }) | undefined;
          assert.equal(cause?.type, 'CheckpointNotFound');
          assert.equal(cause?.nonRetryable, true);
          assert.match(cause?.message ?? '', /no valid checkpoint found for smoke-lost-/);
          return true;
        });
      } finally {
        await otherWorkers.stop();
        await other.close();
      }
      // A cleanly stopped worker leaves no scratch data behind (downloads there run to hundreds of MB).
      assert.equal(existsSync(other.workDir), false, `${other.workDir} removed on close`);
    },
  );
});
