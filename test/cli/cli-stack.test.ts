/**
 * CLI commands against the real stack (bin/realgen as a process): runs --json, status of a closed run, cancel of one
 * stage, and report --out with a link that opens. Workflows are started without workers on a private task queue,
 * so nothing runs them: a closed run is one that was terminated.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { putBytes, putJson, reportKeys } from '../../activities/evaluation/layout';
import { loadConfig } from '../../configs/load';
import { runWorkflowId, stageWorkflowId } from '../../contracts/ids';
import type { PipelineInput } from '../../workflows/realgen-pipeline';
import { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { testConfigFile, testS3, testStack } from '../helpers/stack';

const bin = path.resolve(__dirname, '..', '..', 'bin', 'realgen');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'realgen-cli-stack-'));
const env: NodeJS.ProcessEnv = { ...process.env, REALGEN_STATE_DIR: tmp };
for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG']) delete env[k];

describe('realgen CLI on the stack', () => {
  let config = '';
  let client: Client;
  const realgen = (...args: string[]) => spawnSync(bin, [...args, '-c', config], { encoding: 'utf8', env, timeout: 60_000 });

  before(async () => {
    config = await testConfigFile();
    const connection = await Connection.connect({ address: (await testStack()).temporalAddress });
    client = new Client({ connection });
  });
  after(async () => {
    await client.connection.close();
  });

  it('lists runs as JSON, and shows the status of a closed run from describe()', async () => {
    const runId = `cli-${process.pid}-${Date.now()}`;
    const queue = loadConfig(config).config.taskQueues.cpu;
    const handle = await client.workflow.start('realgenPipeline', {
      workflowId: runWorkflowId(runId),
      taskQueue: queue,
      args: [{}],
    });
    // Visibility is eventually consistent: poll with a deadline.
    const deadline = Date.now() + 20_000;
    let rows: Array<{ run: string; status: string; started: string; closed: string | null }> = [];
    while (Date.now() < deadline) {
      const r = realgen('runs', '--json', '--limit', '100');
      assert.equal(r.status, 0, r.stderr);
      rows = JSON.parse(r.stdout) as typeof rows;
      if (rows.some((x) => x.run === runId)) break;
      await delay(250);
    }
    const row = rows.find((x) => x.run === runId);
    assert.deepEqual(Object.keys(row ?? {}), ['run', 'status', 'started', 'closed', 'gpuHours']);
    assert.equal(row?.status, 'RUNNING');

    const running = realgen('status', runId);
    assert.equal(running.status, 0, running.stderr);
    assert.match(
      running.stdout,
      new RegExp(
        `run ${runId}: RUNNING \\(no worker answered the progress query within 10 s: is a CPU worker polling ${queue}\\?`,
      ),
    );

    await handle.terminate('test: a closed run');
    const status = realgen('status', runId);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`run ${runId}: TERMINATED`));
  });

  it('filters runs by --status and --since', async () => {
    const queue = loadConfig(config).config.taskQueues.cpu;
    const tag = `cli-filter-${process.pid}-${Date.now()}`;
    const running = await client.workflow.start('realgenPipeline', {
      workflowId: runWorkflowId(`${tag}-running`),
      taskQueue: queue,
      args: [{}],
    });
    const ended = await client.workflow.start('realgenPipeline', {
      workflowId: runWorkflowId(`${tag}-ended`),
      taskQueue: queue,
      args: [{}],
    });
    await ended.terminate('test: a closed run');
    const mine = (...args: string[]) => {
      const r = realgen('runs', '--json', '--limit', '1000', ...args);
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as Array<{ run: string; status: string }>)
        .filter((x) => x.run.startsWith(tag))
        .map((x) => `${x.run}:${x.status}`)
        .sort();
    };
    // Visibility is eventually consistent: poll until both runs are listed with their final status.
    const deadline = Date.now() + 20_000;
    while (mine().length < 2 || !mine().includes(`${tag}-ended:TERMINATED`)) {
      assert.ok(Date.now() < deadline, `runs listed: ${JSON.stringify(mine())}`);
      await delay(250);
    }
    assert.deepEqual(mine('--status', 'running'), [`${tag}-running:RUNNING`]);
    assert.deepEqual(mine('--status', 'terminated,failed'), [`${tag}-ended:TERMINATED`]);
    assert.deepEqual(mine('--since', '10m'), [`${tag}-ended:TERMINATED`, `${tag}-running:RUNNING`]);
    assert.deepEqual(mine('--since', new Date(Date.now() + 60_000).toISOString()), [], 'nothing started in the future');
    const table = realgen('runs', '--status', 'running', '--limit', '1000');
    assert.match(table.stdout, /GPU-h/);
    await running.terminate('test cleanup');
  });

  it('creates, lists and removes an evaluation schedule, and shows the GPU queue', () => {
    const runId = `cli-sched-${process.pid}-${Date.now()}`;
    const created = realgen('schedule', 'eval', '--run', runId, '--stage', '2', '--every', '6h');
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, new RegExp(`schedule schedule/eval/${runId}/stage-2 created`));
    const again = realgen('schedule', 'eval', '--run', runId, '--stage', '2', '--every', '6h');
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists; remove it first with `realgen schedule rm --run .* --stage 2`/);
    const ls = realgen('schedule', 'ls', '--json');
    assert.equal(ls.status, 0, ls.stderr);
    const row = (JSON.parse(ls.stdout) as Array<{ id: string; run: string; stage: string; every: string }>).find(
      (r) => r.run === runId,
    );
    assert.deepEqual(row && { stage: row.stage, every: row.every }, { stage: 'stage-2', every: '6h' });
    const rm = realgen('schedule', 'rm', '--run', runId, '--stage', '2');
    assert.equal(rm.status, 0, rm.stderr);
    assert.ok(!(JSON.parse(realgen('schedule', 'ls', '--json').stdout) as Array<{ run: string }>).some((r) => r.run === runId));
    const queue = realgen('queue');
    assert.equal(queue.status, 0, queue.stderr);
    assert.match(queue.stdout, /^GPU queue gpu-\S+: \d+ running, \d+ waiting/);
  });

  it('cancels one stage with --stage', async () => {
    const runId = `cli-stage-${process.pid}-${Date.now()}`;
    const queue = loadConfig(config).config.taskQueues.gpu;
    const stage = await client.workflow.start('trainStage', {
      workflowId: stageWorkflowId(runId, 2),
      taskQueue: queue,
      args: [{}],
    });
    const r = realgen('cancel', runId, '--stage', '2', '--no-wait');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /cancellation requested/);
    const history = await stage.fetchHistory();
    assert.ok(
      history.events?.some((e) => e.workflowExecutionCancelRequestedEventAttributes),
      'the stage workflow got the cancel request',
    );
    await stage.terminate('test cleanup');
  });

  it('report --out downloads the report files, and the printed link opens', async () => {
    const loaded = loadConfig(config);
    const store = new CheckpointStore({ client: await testS3(), bucket: loaded.config.storage.bucket });
    await store.ensureBucket();
    const evalKey = 'cli-report/smoke';
    const keys = reportKeys(evalKey);
    const chartKey = keys.chart('scores');
    await putBytes(store, keys.md, '# report\n![scores](charts/scores.png)\n', 'text/markdown');
    await putBytes(store, keys.html, '<html><body>report</body></html>', 'text/html');
    await putBytes(store, chartKey, Buffer.from([0x89, 0x50, 0x4e, 0x47]), 'image/png');
    await putJson(store, keys.json, {
      schema: 'realgen/evaluation-report@1',
      evalKey,
      name: 'cli-report',
      suite: 'smoke',
      createdAt: '2026-01-01T00:00:00.000Z',
      arena: { judge: 'local:test' },
      detectors: [],
      headline: { images: 1, detectorScoring: {}, arenaWinRate: null, arenaCi: null, positionConsistency: null },
      charts: [{ name: 'scores', title: 'scores', key: chartKey, series: [], groups: [] }],
      grid: null,
      keys: { json: keys.json, md: keys.md, html: keys.html, leaderboardEntry: keys.leaderboardEntry },
    });
    const out = path.join(tmp, 'report-out');
    const r = realgen('report', evalKey, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const html = /report downloaded: (\S+)/.exec(r.stdout)?.[1];
    assert.equal(html, path.join(out, 'report.html'));
    assert.equal(readFileSync(html, 'utf8'), '<html><body>report</body></html>');
    assert.ok(existsSync(path.join(out, 'report.md')));
    assert.ok(existsSync(path.join(out, 'charts', 'scores.png')));

    // --open: with an opener on PATH it gets the downloaded file; without one the command says so.
    const withOpener = path.join(tmp, 'bin-opener');
    const withoutOpener = path.join(tmp, 'bin-plain');
    for (const dir of [withOpener, withoutOpener]) {
      mkdirSync(dir, { recursive: true });
      symlinkSync(process.execPath, path.join(dir, 'node'));
      for (const tool of ['bash', 'dirname', 'readlink', 'env']) symlinkSync(`/usr/bin/${tool}`, path.join(dir, tool));
    }
    const opened = path.join(tmp, 'opened.txt');
    writeFileSync(path.join(withOpener, 'xdg-open'), `#!/usr/bin/bash\necho "$1" > ${opened}\n`);
    chmodSync(path.join(withOpener, 'xdg-open'), 0o755);
    const open = (dir: string) =>
      spawnSync(bin, ['report', evalKey, '--out', out, '--open', '-c', config], {
        encoding: 'utf8',
        env: { ...env, PATH: dir },
        timeout: 60_000,
      });
    const o1 = open(withOpener);
    assert.equal(o1.status, 0, o1.stderr);
    const deadline = Date.now() + 10_000;
    while (!existsSync(opened) && Date.now() < deadline) await delay(50);
    assert.equal(readFileSync(opened, 'utf8').trim(), path.join(out, 'report.html'));
    const o2 = open(withoutOpener);
    assert.equal(o2.status, 0, o2.stderr);
    assert.match(o2.stdout, /--open: no browser opener \(xdg-open\) on this machine; open .*report\.html yourself/);

    const links = realgen('report', evalKey);
    assert.equal(links.status, 0, links.stderr);
    const url = /open the HTML report \(link valid \d+ h\): (\S+)/.exec(links.stdout)?.[1];
    assert.ok(url, links.stdout);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '<html><body>report</body></html>');
  });
  it('run on the preset config finds the stack through endpoints.json, and the workflow input carries those endpoints', async () => {
    const stack = await testStack();
    const state = mkdtempSync(path.join(tmp, 'state-'));
    writeFileSync(
      path.join(state, 'endpoints.json'),
      JSON.stringify({
        schema: 'realgen/dev-endpoints@1',
        temporalAddress: stack.temporalAddress,
        temporalUiUrl: 'http://127.0.0.1:1',
        s3Endpoint: stack.s3Endpoint,
        s3ConsoleUrl: 'http://127.0.0.1:1',
        accessKeyFile: stack.accessKeyFile,
        secretKeyFile: stack.secretKeyFile,
      }),
    );
    const runId = `cli-endpoints-${process.pid}-${Date.now()}`;
    // No -c: the preset configs/mini.yaml names 127.0.0.1:7233 / :9000; the endpoints file redirects both.
    const r = spawnSync(bin, ['run', '--run-id', runId, '--no-final-eval'], {
      encoding: 'utf8',
      env: { ...env, REALGEN_STATE_DIR: state },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`temporal ${stack.temporalAddress.replace(/\./g, '\\.')} \\(from .*endpoints\\.json`));
    const handle = client.workflow.getHandle(runWorkflowId(runId));
    const history = await handle.fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const payload = started?.input?.payloads?.[0]?.data;
    assert.ok(payload);
    const input = JSON.parse(Buffer.from(payload).toString('utf8')) as PipelineInput;
    assert.equal(input.config.temporal.address, stack.temporalAddress);
    assert.equal(input.config.storage.endpoint, stack.s3Endpoint);
    assert.deepEqual(input.config.storage.credentials.secretAccessKey, { file: stack.secretKeyFile });
    await handle.terminate('test cleanup');
  });

  it('smoke with embedded workers (the standard worker factory) commits and verifies a checkpoint', () => {
    const r = realgen('smoke', '--run-id', `cli-smoke-${process.pid}`, '--size-mib', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^committed {2}s3:\/\/.*\n^resolved {3}step \d+, deep-verified \d+ files/m);
  });
});
