/**
 * Notifications on the real stack, delivered to local HTTP receivers on 127.0.0.1: a run (fixture trainer, one
 * stage) finishes while its JSON receiver is down — the run is not delayed, and the messages arrive once the receiver
 * is back (nothing lost); a Slack-compatible receiver that fails twice gets the message on the third attempt; a run
 * that fails sends `run-failed`; a trainer attempt that dies makes its retry send `worker-lost`; `realgen status` shows GPU-hours
 * and their cost. Target URLs come from an env variable and a file (SecretRefs), never the config text.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { notificationWorkflowId, runWorkflowId, stageWorkflowId } from '../../contracts/ids';
import type { NotificationMessage } from '../../contracts/notifications';
import type { PipelineMemo, PipelineResult } from '../../workflows/realgen-pipeline';
import type { DeliverNotificationResult } from '../../workflows/deliver-notification';
import type { WorkerContext } from '../../workers/worker-context';
import { fixtureLauncher } from '../helpers/fixture-trainer';
import { testConfigFile } from '../helpers/stack';
import { maybeRecordHistory } from '../helpers/temporal';
import { startPipeline, startTestWorkers, type TestWorkers } from '../helpers/workers';
import { until } from '../helpers/until';

let ctx: WorkerContext;
let client: Client;
let workers: TestWorkers;
let server: Server;

/** What the receivers saw: every request (accepted or not) per path. */
const seen = {
  json: { attempts: 0, accepted: [] as NotificationMessage[] },
  slack: { attempts: 0, accepted: [] as Array<{ text: string }> },
};
let jsonDown = true;

const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-notify-'));
const modelFile = path.join(dir, 'model.bin');

/** The fixture trainer of `runId`'s first segment attempt: verified ours by its job file (a unique run id) in its command line. */
function trainerPid(runId: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes('counter-trainer.ts') && cmdline.includes(`/${runId}/stage-1/segment-0-attempt-1/job.json`))
      return Number(entry);
  }
  return undefined;
}

const startRun = (runId: string) => startPipeline({ ctx, client }, runId);

describe('notifications (real stack, local webhook receivers)', () => {
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (req.url === '/hook/json') {
          seen.json.attempts += 1;
          if (jsonDown) return void res.writeHead(503).end('down');
          seen.json.accepted.push(body as NotificationMessage);
        } else if (req.url === '/hook/slack') {
          seen.slack.attempts += 1;
          if (seen.slack.attempts <= 2) return void res.writeHead(500).end('not yet');
          seen.slack.accepted.push(body as { text: string });
        } else return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.REALGEN_TEST_HOOK_JSON = `${base}/hook/json`;
    writeFileSync(path.join(dir, 'slack-url'), `${base}/hook/slack\n`);
    writeFileSync(modelFile, 'model');
    const file = await testConfigFile({
      mutate: (doc) => {
        doc.setIn(['realbench', 'source'], doc.createNode({ s3Prefix: 'datasets/none/' }));
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 4, segmentSteps: 2, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 2);
        doc.setIn(['stages', 0, 'evalEvery'], 1000);
        doc.setIn(['stages', 1, 'enabled'], false);
        doc.setIn(['stages', 2, 'enabled'], false);
        doc.setIn(['costPerGpuHour'], 2.5);
        doc.setIn(
          ['notifications'],
          doc.createNode({
            dashboardUrl: 'http://ui.example:8080/',
            maxRetryIntervalSeconds: 1,
            targets: [
              {
                name: 'ops',
                url: { env: 'REALGEN_TEST_HOOK_JSON' },
                events: ['run-finished', 'stage-finished', 'run-failed', 'worker-lost'],
              },
              { name: 'team-slack', format: 'slack', url: { file: path.join(dir, 'slack-url') }, events: ['run-finished'] },
            ],
          }),
        );
      },
    });
    workers = await startTestWorkers(file, {
      launcher: fixtureLauncher({ FIXTURE_STEP_MS: '20', FIXTURE_MODEL_FILE: modelFile }),
    });
    ({ ctx, client } = workers);
  });

  after(async () => {
    await workers.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('does not delay a run for a receiver that is down, delivers once it is back, and retries a failing Slack receiver', async () => {
    const runId = `notify-${Date.now()}`;
    const result = (await (await startRun(runId)).result()) as PipelineResult;
    // The run is over while the JSON receiver has accepted nothing.
    assert.equal(seen.json.accepted.length, 0);
    assert.ok((result.gpuSeconds?.['stage-1'] ?? 0) > 0, `GPU-seconds recorded: ${JSON.stringify(result.gpuSeconds)}`);
    await until('the JSON receiver to be tried while down', () => (seen.json.attempts >= 1 ? true : undefined));

    // The Slack-compatible receiver failed twice and took the third attempt.
    const slack = await until('the Slack message', () => seen.slack.accepted[0]);
    assert.equal(seen.slack.attempts, 3);
    assert.match(slack.text, new RegExp(`^\\*run ${runId} finished\\*\\n`));
    assert.ok(slack.text.includes(`<http://ui.example:8080/runs/${runId}|Open in the realgen dashboard>`), slack.text);

    // The JSON receiver comes back: both messages arrive (stage finished, run finished), none lost.
    jsonDown = false;
    const finished = await until('run-finished at the JSON receiver', () =>
      seen.json.accepted.find((m) => m.event === 'run-finished' && m.runId === runId),
    );
    const stage = await until('stage-finished at the JSON receiver', () =>
      seen.json.accepted.find((m) => m.event === 'stage-finished' && m.runId === runId),
    );
    assert.equal(stage.numbers.step, 4);
    assert.equal(finished.link, `http://ui.example:8080/runs/${runId}`);
    assert.equal(finished.numbers['stage-1 step'], 4);
    assert.ok(typeof finished.numbers.gpuHours === 'number' && finished.numbers.gpuHours > 0);
    assert.equal(finished.numbers.cost, (finished.numbers.gpuHours as number) * 2.5);
    const delivery = client.workflow.getHandle(notificationWorkflowId('run-finished', runId));
    const delivered = (await delivery.result()) as DeliverNotificationResult;
    assert.deepEqual(delivered.failed, []);
    assert.equal(delivered.delivered.find((d) => d.target === 'team-slack')?.attempts, 3);
    assert.ok((delivered.delivered.find((d) => d.target === 'ops')?.attempts ?? 0) >= 2, 'ops was retried while down');

    // `realgen runs` reads GPU usage from the run's memo.
    const desc = await client.workflow.getHandle(runWorkflowId(runId)).describe();
    assert.equal((desc.memo as Partial<PipelineMemo> | undefined)?.gpuSeconds, result.gpuSeconds?.['stage-1']);
    // `realgen status` (a process) shows the GPU-hours and their cost at the configured price.
    const env: NodeJS.ProcessEnv = { ...process.env, REALGEN_STATE_DIR: dir };
    for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG']) delete env[k];
    const bin = path.resolve(__dirname, '..', '..', 'bin', 'realgen');
    // Asynchronously: the workers answering its progress query live in this process.
    const status = await promisify(execFile)(bin, ['status', runId, '-c', ctx.loaded.file], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    const hours = (result.gpuSeconds?.['stage-1'] ?? 0) / 3600;
    assert.match(
      status.stdout,
      new RegExp(
        `GPU usage: ${hours.toPrecision(3).replace('.', '\\.')} GPU-h \\(${(hours * 2.5).toFixed(2).replace('.', '\\.')} at 2\\.5/GPU-h\\)`,
      ),
    );
    await maybeRecordHistory(client, runWorkflowId(runId), 'realgenPipeline');
    await maybeRecordHistory(client, delivery.workflowId, 'deliverNotification');
  });

  it('sends run-failed when a run fails', async () => {
    const runId = `notify-fail-${Date.now()}`;
    rmSync(modelFile); // the fixture trainer's ConfigInvalid: the stage, and so the run, fail for good
    try {
      await assert.rejects((await startRun(runId)).result(), WorkflowFailedError);
    } finally {
      writeFileSync(modelFile, 'model');
    }
    const failed = await until('run-failed at the JSON receiver', () =>
      seen.json.accepted.find((m) => m.event === 'run-failed' && m.runId === runId),
    );
    assert.match(failed.title, new RegExp(`^run ${runId} failed: `));
    assert.equal(failed.link, `http://ui.example:8080/runs/${runId}`);
  });

  it('sends worker-lost when a segment attempt dies and is retried', async () => {
    jsonDown = false;
    const runId = `notify-lost-${Date.now()}`;
    // A longer stage (given in the input), so the trainer can be killed mid-segment.
    const config = {
      ...ctx.config,
      stages: ctx.config.stages.map((s, i) => (i === 0 ? { ...s, budget: { ...s.budget, maxSteps: 60, segmentSteps: 60 } } : s)),
    };
    const stage = await client.workflow.start('trainStage', {
      workflowId: stageWorkflowId(runId, 1),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [{ runId, stage: 1, config, configBaseDir: ctx.loaded.baseDir, configDigest: ctx.loaded.digest, initFrom: {} }],
    });
    const deadline = Date.now() + 60_000;
    let pid: number | undefined;
    while ((pid = trainerPid(runId)) === undefined || (await ctx.store.listCheckpointSteps(runId, 'stage-1')).length === 0) {
      assert.ok(Date.now() < deadline, 'the trainer never committed a checkpoint');
      await delay(50);
    }
    process.kill(pid, 'SIGKILL');
    const lost = await until('worker-lost at the JSON receiver', () =>
      seen.json.accepted.find((m) => m.event === 'worker-lost' && m.runId === runId),
    );
    assert.match(lost.title, new RegExp(`^run ${runId}: stage-1 segment 0 lost its attempt 1; resuming on attempt 2$`));
    assert.equal(lost.numbers.attempt, 2);
    assert.equal(lost.link, `http://ui.example:8080/runs/${runId}`);
    assert.equal(((await stage.result()) as { step: number }).step, 60, 'the retried attempt finished the stage');
  });
});
