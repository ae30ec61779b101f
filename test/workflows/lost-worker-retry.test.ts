/**
 * A segment whose GPU worker is killed again and again is retried within seconds every time: a lost worker (heartbeat
 * timeout) is retried at a constant short interval, while the supervisor's own failures carry an exponential
 * nextRetryDelay. Before, the policy's backoff (2 s, 4 s, 8 s, 16 s …) also applied to lost workers, so the fourth
 * kill of a segment waited 10 s + 16 s for its retry (found by `npm run chaos`). Real stack; the GPU worker is a
 * separate process with the fixture trainer.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { stageWorkflowId } from '../../contracts/ids';
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
  const child = spawnGpuWorker(configFile, { env: { FIXTURE_STEP_MS: '300' } });
  gpuWorkers.push(child);
  return child;
}

const killed = killWorker;

/** The running segment's attempt once a worker holds it (describe). */
async function startedAttempt(handle: WorkflowHandle): Promise<number | null> {
  const desc = await handle.describe();
  const a = desc.raw.pendingActivities?.find((p) => p.activityType?.name === 'runTrainerSegment');
  return a && Number(a.state ?? 0) === 2 ? (a.attempt ?? 1) : null;
}

describe('segment retries after lost workers (real stack)', () => {
  before(async () => {
    configFile = await testConfigFile({
      mutate: (doc) => {
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 200, segmentSteps: 200, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 2);
        doc.setIn(['stages', 0, 'evalEvery'], 1000);
      },
    });
    // Only the CPU worker runs here: the GPU worker is a child process the test kills.
    workers = await startTestWorkers(configFile, {}, ['cpu']);
    ({ ctx, client } = workers);
  });

  after(async () => {
    for (const w of gpuWorkers) await killed(w);
    await workers.stop();
  });

  it('starts each retry within the heartbeat timeout plus a few seconds, kill after kill', async () => {
    const runId = `lost-${process.pid}`;
    const handle = await client.workflow.start('trainStage', {
      workflowId: stageWorkflowId(runId, 1),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [
        { runId, stage: 1, config: ctx.config, configBaseDir: ctx.loaded.baseDir, configDigest: ctx.loaded.digest, initFrom: {} },
      ],
    });
    const heartbeatTimeoutSeconds = ctx.config.workers.gpu.heartbeatTimeoutSeconds;
    // Heartbeat timeout + a 2 s retry interval + slack for a busy 2-core machine; the old backoff needed 10 + 16 s.
    const limitMs = (heartbeatTimeoutSeconds + 8) * 1000;
    let worker = startGpuWorker();
    let attempt = 0;
    for (let kill = 1; kill <= 4; kill++) {
      const deadline = Date.now() + 120_000;
      let held: number | null = null;
      while (held === null || held <= attempt) {
        assert.ok(Date.now() < deadline, `attempt ${attempt + 1} never started`);
        await delay(100);
        held = await startedAttempt(handle).catch(() => null);
      }
      attempt = held;
      await killed(worker);
      const killedAt = Date.now();
      worker = startGpuWorker();
      for (;;) {
        const now = await startedAttempt(handle).catch(() => null);
        if (now !== null && now > attempt) break;
        const waited = Date.now() - killedAt;
        assert.ok(waited < limitMs, `kill ${kill} (attempt ${attempt}): no retry started within ${limitMs / 1000} s`);
        await delay(100);
      }
    }
    await handle.terminate('test done');
  });
});
