/**
 * Crash-proof resume on a private real stack: the GPU worker process is SIGKILLed three times (once while a
 * checkpoint is being uploaded) and restarted; the Temporal dev server and MinIO are restarted mid-run. The run
 * must finish with a final checkpoint whose files are byte-identical to an uninterrupted run with the same seed.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { stackDown, stackUp } from '../../devstack/dev-stack';
import { stopGroup } from '../../devstack/processes';
import type { StackState } from '../../devstack/stack-state';
import { freePort } from '../../infra/net/free-port';
import { stageWorkflowId } from '../../contracts/ids';
import type { TrainStageResult } from '../../workflows/train-stage';
import { stageProgressQuery } from '../../contracts/training-messages';
import { createWorker } from '../../workers/create-workers';
import { createWorkerContext, type WorkerContext } from '../../workers/worker-context';
import { describeLiveness, segmentLiveness } from '../../infra/temporal/segment-liveness';
import { killWorker, spawnGpuWorker } from '../helpers/gpu-worker-process';
import { testConfigFile } from '../helpers/stack';

const stateDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-crash-stack-'));
let state: StackState;
let configFile: string;
let ctx: WorkerContext;
let cpu: Worker;
let cpuRunning: Promise<void>;
let client: Client;
let gpu: { child: ChildProcess; lines: string[]; waiters: Array<{ re: RegExp; resolve: () => void }> } | null = null;

/** Starts the GPU worker process; its log lines are scanned for the points where the test kills it. */
function startGpuWorker(): void {
  const child = spawnGpuWorker(configFile, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { REALGEN_LOG_LEVEL: 'INFO', FIXTURE_STEP_MS: '400', FIXTURE_WEIGHT_KB: '24576' },
  });
  const g = { child, lines: [] as string[], waiters: [] as Array<{ re: RegExp; resolve: () => void }> };
  const onLine = (line: string) => {
    if (process.env.REALGEN_TEST_VERBOSE) console.error(`[gpu ${child.pid}] ${line.slice(0, 200)}`);
    g.lines.push(line);
    g.waiters = g.waiters.filter((w) => (w.re.test(line) ? (w.resolve(), false) : true));
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  gpu = g;
}

function waitForLine(re: RegExp): Promise<void> {
  return new Promise((resolve) => gpu!.waiters.push({ re, resolve }));
}

async function killGpuWorker(): Promise<void> {
  await killWorker(gpu!.child);
  gpu = null;
}

/**
 * Stops one server and starts it again on the same port and data (the other one is reused as it is). `whileDown` is
 * called before the stop, so that what it waits for cannot happen unseen while the stop is in progress.
 */
async function restartServer(which: 'temporal' | 'minio', whileDown?: () => Promise<void>): Promise<void> {
  const svc = which === 'temporal' ? state.temporal : state.minio;
  const down = whileDown?.();
  await stopGroup(svc);
  await down;
  const port = (u: string) => Number(u.split(':').at(-1));
  state = await stackUp({
    stateDir,
    ports: {
      temporal: port(state.temporal.address),
      temporalUi: port(state.temporal.uiUrl),
      temporalHttp: await freePort(),
      temporalMetrics: await freePort(),
      minio: port(state.minio.endpoint),
      minioConsole: port(state.minio.consoleUrl),
    },
  });
}

async function finalFiles(runId: string) {
  const latest = await ctx.store.latestValidCheckpoint(runId, 'stage-1');
  assert.ok(latest.ref, `run ${runId} has a valid checkpoint`);
  return { step: latest.ref.step, files: (await ctx.store.readManifest(latest.ref.prefix)).manifest.files };
}

describe('crash-proof resume (private real stack)', () => {
  before(async () => {
    state = await stackUp({ stateDir, ports: 'auto' });
    const stack = {
      temporalAddress: state.temporal.address,
      s3Endpoint: state.minio.endpoint,
      accessKeyFile: state.secrets.accessKeyFile,
      secretKeyFile: state.secrets.secretKeyFile,
      credentials: {
        accessKey: readFileSync(state.secrets.accessKeyFile, 'utf8').trim(),
        secretKey: readFileSync(state.secrets.secretKeyFile, 'utf8').trim(),
      },
    };
    configFile = await testConfigFile({
      stack,
      mutate: (doc) => {
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 24, segmentSteps: 12, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 2);
        doc.setIn(['stages', 0, 'evalEvery'], 1000);
        doc.setIn(['stages', 0, 'stallTimeoutSeconds'], 10);
        doc.setIn(['workers', 'gpu', 'shutdownGraceSeconds'], 3);
      },
    });
    ctx = await createWorkerContext(configFile);
    cpu = await createWorker(ctx, 'cpu');
    cpuRunning = cpu.run();
    client = new Client({ connection: await Connection.connect({ address: state.temporal.address }) });
  });

  after(async () => {
    if (gpu) await killGpuWorker();
    cpu.shutdown();
    await cpuRunning.catch(() => undefined);
    await ctx.connection.close();
    await client.connection.close();
    await stackDown(stateDir);
    // Its MinIO data and logs are ~570 MB: a run that kept them filled the disk after a few dozen test runs.
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('survives 3 worker kills (one mid-upload) and Temporal and MinIO restarts, ending byte-identical', async () => {
    const start = (runId: string) =>
      client.workflow.start('trainStage', {
        workflowId: stageWorkflowId(runId, 1),
        taskQueue: ctx.config.taskQueues.cpu,
        args: [
          {
            runId,
            stage: 1,
            config: ctx.config,
            configBaseDir: ctx.loaded.baseDir,
            configDigest: ctx.loaded.digest,
            initFrom: {},
          },
        ],
      });

    // Reference: an uninterrupted run with the same seed.
    startGpuWorker();
    const refRunId = `ref-${Date.now()}`;
    const reference = (await (await start(refRunId)).result()) as TrainStageResult;
    assert.equal(reference.step, 24);

    const runId = `crash-${Date.now()}`;
    const handle = await start(runId);
    const progressed = async (minStep: number) => {
      for (;;) {
        const p = await handle.query(stageProgressQuery).catch(() => null);
        if (p && (p.lastCheckpoint?.step ?? 0) >= minStep) return;
        await delay(200);
      }
    };

    const mark = (m: string) => process.env.REALGEN_TEST_VERBOSE && console.error(`[crash-test] ${m}`);
    mark('reference done');
    // Kill 1: between checkpoints, right after the first commit.
    await waitForLine(/checkpoint committed/);
    await killGpuWorker();
    mark('kill 1');
    // The dead worker shows at once: its heartbeat ages past the (10 s) timeout, and status says so.
    const { heartbeatTimeoutSeconds } = await handle.query(stageProgressQuery);
    const lostBy = Date.now() + (heartbeatTimeoutSeconds + 20) * 1000;
    let live = await segmentLiveness(handle, heartbeatTimeoutSeconds);
    while (!live?.workerLost) {
      assert.ok(Date.now() < lostBy, `the lost worker never showed; last ${JSON.stringify(live)}`);
      await delay(250);
      live = await segmentLiveness(handle, heartbeatTimeoutSeconds);
    }
    assert.match(describeLiveness(live), /^worker lost, waiting for retry \(last heartbeat \d+s ago/);
    startGpuWorker();
    // The restarted worker says where it resumes.
    await waitForLine(/resuming stage-1 of crash-\d+ from checkpoint \d+ \(step \d+\)/);

    // Kill 2: while a (24 MiB) checkpoint is being uploaded: as soon as its folder has its first object.
    await waitForLine(/committing checkpoint/);
    const line = gpu!.lines.filter((l) => /committing checkpoint/.test(l)).at(-1) ?? '';
    const uploading = (JSON.parse(line) as { step: number }).step;
    while (!(await ctx.store.listCheckpointSteps(runId, 'stage-1')).includes(uploading)) await delay(10);
    await killGpuWorker();
    const latest = await ctx.store.latestValidCheckpoint(runId, 'stage-1');
    assert.ok(
      latest.skipped.some((s) => s.step === uploading && s.reason.startsWith('half-written')),
      `checkpoint ${uploading} was left half-written by the kill (skipped: ${JSON.stringify(latest.skipped)})`,
    );
    mark(`kill 2 during upload of ${uploading}`);
    startGpuWorker();

    // Temporal restarts mid-run: workers and client reconnect, the run continues.
    await progressed((latest.ref?.step ?? 0) + 2);
    await restartServer('temporal');
    mark('temporal restarted');

    // MinIO goes away mid-run: the next commit fails, the attempt fails with StorageUnavailable and is retried
    // once MinIO is back.
    await restartServer('minio', () => waitForLine(/checkpoint commit failed/));
    mark('minio restarted after a failed commit');

    // Kill 3: at a later checkpoint, with steps still to go.
    await waitForLine(/"msg":"checkpoint committed".*"step":(1[0-9]|20)[,}]/);
    await killGpuWorker();
    mark('kill 3');
    startGpuWorker();

    const result = (await handle.result()) as TrainStageResult;
    assert.equal(result.step, 24);
    const [a, b] = [await finalFiles(runId), await finalFiles(refRunId)];
    assert.equal(a.step, 24);
    assert.deepEqual(a.files, b.files, 'final checkpoint files are byte-identical to the uninterrupted run');
  });
});
