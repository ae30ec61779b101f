/**
 * A GPU worker killed (SIGKILL) while it generates an evaluation shard: the shard's retry starts within seconds,
 * because evaluation activities heartbeat every second and use the short `workers.gpu.heartbeatTimeoutSeconds`
 * (10 s by default) instead of 5 minutes. Real stack, the realgen-mini models, the GPU worker a separate process.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { EvaluationResult } from '../../contracts/evaluation';
import { evalBaseWorkflowId, evalKeyOfWorkflowId } from '../../contracts/ids';
import type { EvaluateCheckpointInput } from '../../workflows/evaluate-checkpoint';
import type { WorkerContext } from '../../workers/worker-context';
import { killWorker, spawnGpuWorker } from '../helpers/gpu-worker-process';
import { testConfigFile } from '../helpers/stack';
import { startTestWorkers, type TestWorkers } from '../helpers/workers';

let configFile: string;
let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;
const gpuWorkers: ChildProcess[] = [];

function startGpuWorker(): ChildProcess {
  const child = spawnGpuWorker(configFile);
  gpuWorkers.push(child);
  return child;
}

const killed = killWorker;

/** The evaluation's pending generateShard activities (describe), started ones first. */
async function generating(handle: WorkflowHandle): Promise<Array<{ id: string; attempt: number; started: boolean }>> {
  const desc = await handle.describe();
  return (desc.raw.pendingActivities ?? [])
    .filter((a) => a.activityType?.name === 'generateShard')
    .map((a) => ({ id: a.activityId ?? '', attempt: a.attempt ?? 1, started: Number(a.state ?? 0) === 2 }));
}

describe('evaluation shard on a killed GPU worker (real stack)', () => {
  before(async () => {
    configFile = await testConfigFile();
    // Only the CPU worker runs here: the GPU worker is a child process the test kills.
    workers = await startTestWorkers(configFile, {}, ['cpu']);
    ({ ctx, client } = workers);
  });

  after(async () => {
    for (const w of gpuWorkers) await killed(w);
    await workers.stop();
  });

  it('retries the shard within the heartbeat timeout plus a few seconds, and the evaluation completes', async () => {
    const workflowId = evalBaseWorkflowId(randomBytes(8).toString('hex'), 'smoke');
    const input: EvaluateCheckpointInput = {
      evalKey: evalKeyOfWorkflowId(workflowId),
      suite: 'smoke',
      source: { kind: 'mini-checkpoint', ref: null },
      name: 'worker-loss',
      config: ctx.config,
      configBaseDir: ctx.loaded.baseDir,
      configDigest: ctx.loaded.digest,
      taskQueues: ctx.config.taskQueues,
      shardConcurrency: 1,
    };
    const first = startGpuWorker();
    const handle = await client.workflow.start('evaluateCheckpoint', {
      workflowId,
      taskQueue: ctx.config.taskQueues.cpu,
      args: [input],
    });
    // Killed as soon as a worker holds a generation shard (describe says it started).
    let held: { id: string; attempt: number } | undefined;
    const seenBy = Date.now() + 120_000;
    while (!held) {
      assert.ok(Date.now() < seenBy, 'no generateShard ever started');
      held = (await generating(handle)).find((a) => a.started);
      if (!held) await delay(50);
    }
    await killed(first);
    const killedAt = Date.now();
    startGpuWorker();
    const heartbeatTimeoutSeconds = ctx.config.workers.gpu.heartbeatTimeoutSeconds;
    // Heartbeat timeout, the first retry interval (1 s) and a worker start on a busy 2-core machine.
    const limitMs = (heartbeatTimeoutSeconds + 20) * 1000;
    for (;;) {
      const retried = (await generating(handle)).find((a) => a.id === held.id);
      if (!retried || (retried.started && retried.attempt > held.attempt)) break;
      assert.ok(
        Date.now() - killedAt < limitMs,
        `the shard was not retried within ${limitMs / 1000} s of the kill (attempt ${retried.attempt}, started ${retried.started})`,
      );
      await delay(100);
    }
    const result = (await handle.result()) as EvaluationResult;
    assert.equal(result.headline.images, 14, 'every smoke item generated and scored');
  });
});
