/**
 * `realgen ui` in a real headless browser (Debian's chromium at /usr/bin/chromium, driven by playwright-core), on the
 * real stack: a running run's step advances on its page, the leaderboard shows the real photos and a real base
 * evaluation with the held-out column marked, the report's charts and grid load through the server, the queue lists
 * the run, and the Pause button pauses the run (the workflow reports paused). Screenshots go to the test's state
 * folder and their paths are printed. Also: a non-loopback bind without a token is refused; with one, requests
 * without it get 401.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { getJson, listLeaderboardEntries, reportKeys } from '../../../activities/evaluation/layout';
import { runWorkflowId, stageWorkflowId } from '../../../contracts/ids';
import { pipelineProgressQuery, stageProgressQuery } from '../../../contracts/training-messages';
import type { EvaluationReport } from '../../../domain/report/report-model';
import { startDashboard, type Dashboard, type DashboardSources } from '../../../services/ui/server';
import { fixtureLauncher } from '../../helpers/fixture-trainer';
import { testConfigFile } from '../../helpers/stack';
import { startTestWorkers, type TestWorkers } from '../../helpers/workers';

const CHROMIUM = '/usr/bin/chromium';
const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'realgen');
const stateDir = process.env.REALGEN_TEST_STATE_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'realgen-ui-test-'));

let workers: TestWorkers;
let configFile: string;
let sources: DashboardSources;
let dashboard: Dashboard;
let browser: Browser;

async function until<T>(read: () => Promise<T>, predicate: (v: T) => boolean, what: string, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && predicate(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what} never happened; last ${JSON.stringify(v)}`);
    await delay(100);
  }
}

/** A browser-side expression: the text of the element with id `id` ('' when absent). */
const text = (id: string) => `(document.getElementById('${id}')?.textContent ?? '')`;

/** Waits for a browser-side condition; a timeout says what the page showed. */
async function waitPage(page: Page, expression: string): Promise<void> {
  await page.waitForFunction(expression).catch(async (err: unknown) => {
    const shown = await page.textContent('main').catch(() => '?');
    throw new Error(`${(err as Error).message} waiting for ${expression}; the page shows: ${shown?.replace(/\s+/g, ' ')}`);
  });
}

/** `realgen eval --base` on the test config, served by this file's workers; resolves with its output. */
function evalBase(): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, REALGEN_STATE_DIR: mkdtempSync(path.join(os.tmpdir(), 'realgen-ui-eval-')) };
  for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG']) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['eval', '--base', '-c', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`realgen eval --base exited ${code}: ${out.slice(-3000)}`)),
    );
  });
}

describe('realgen ui in a headless browser (real stack)', () => {
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (scripts/ensure-installed.sh does it)`);
    configFile = await testConfigFile({
      mutate: (doc) => {
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 400, segmentSteps: 5, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 5);
        doc.setIn(['stages', 0, 'evalEvery'], 1000);
        doc.setIn(['stages', 1, 'enabled'], false);
        doc.setIn(['stages', 2, 'enabled'], false);
        doc.setIn(['workers', 'gpu', 'shutdownGraceSeconds'], 5);
      },
    });
    workers = await startTestWorkers(configFile, { launcher: fixtureLauncher({ FIXTURE_STEP_MS: '100' }) });
    const store = workers.ctx.store;
    sources = {
      client: workers.client,
      store,
      config: workers.ctx.config,
      leaderboardEntries: () => listLeaderboardEntries(store),
      readReport: (key) => getJson<EvaluationReport>(store, reportKeys(key).json),
    };
    dashboard = await startDashboard(sources, { port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
  });

  after(async () => {
    await browser?.close();
    await dashboard?.close();
    await workers?.stop();
  });

  it('refuses a non-loopback bind without a token, and wants the token when given one', async () => {
    await assert.rejects(
      startDashboard(sources, { host: '0.0.0.0', port: 0 }),
      /refusing to serve the dashboard on 0\.0\.0\.0 without a token/,
    );
    const guarded = await startDashboard(sources, { host: '0.0.0.0', port: 0, token: 's3cret-token' });
    try {
      const port = new URL(guarded.url).port;
      const denied = await fetch(`http://127.0.0.1:${port}/leaderboard`);
      assert.equal(denied.status, 401);
      assert.ok(!(await denied.text()).includes('s3cret-token'), 'the token is never echoed');
      const allowed = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { Authorization: 'Bearer s3cret-token' } });
      assert.equal(allowed.status, 200);
      // An unknown run is a 404 naming it, not a server error.
      const unknown = await fetch(`http://127.0.0.1:${port}/run?id=no-such-run`, {
        headers: { Authorization: 'Bearer s3cret-token' },
      });
      assert.equal(unknown.status, 404);
      assert.match(await unknown.text(), /no-such-run/);
    } finally {
      await guarded.close();
    }
  });

  it('shows the step advancing, the leaderboard and the report, and Pause pauses the run', async () => {
    const evaluation = evalBase();
    const runId = `ui-${Date.now()}`;
    const { client, ctx } = workers;
    await client.workflow.start('realgenPipeline', {
      workflowId: runWorkflowId(runId),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [
        { runId, config: ctx.config, configBaseDir: ctx.loaded.baseDir, configDigest: ctx.loaded.digest, evaluateFinal: false },
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.setDefaultTimeout(90_000);

    // Runs list → the run's page, whose step advances while we watch (polled from the workflow).
    await page.goto(dashboard.url);
    await page.click(`a:text-is("${runId}")`);
    await waitPage(page, `/^\\d+$/.test(${text('run-step')})`);
    const first = Number(await page.textContent('#run-step'));
    await waitPage(page, `Number(${text('run-step')}) > ${first}`);
    const later = Number(await page.textContent('#run-step'));
    assert.ok(later > first, `step advanced on the page: ${first} → ${later}`);
    console.log(`dashboard: step advanced ${first} → ${later}`);
    await page.waitForSelector('#reward-curve polyline');

    // Pause: the button sends the pipeline's pause update; the workflow itself reports paused.
    await page.click('#btn-pause');
    await waitPage(page, `${text('action-msg')}.includes('paused since')`);
    const pipeline = await until(
      () => client.workflow.getHandle(runWorkflowId(runId)).query(pipelineProgressQuery),
      (p) => p.pausedSince !== null,
      'pipeline paused',
    );
    assert.ok(pipeline.pausedSince);
    await until(
      () => client.workflow.getHandle(stageWorkflowId(runId, 1)).query(stageProgressQuery),
      (s) => s.state === 'paused',
      'stage paused',
    );
    await waitPage(page, `${text('run-status')}.startsWith('paused since')`);
    await waitPage(page, `${text('run-state')} === 'paused'`);
    const runShot = path.join(stateDir, 'dashboard-run.png');
    await page.screenshot({ path: runShot, fullPage: true });
    console.log(`screenshot: ${runShot}`);

    // The links notifications carry (<dashboardUrl>/runs/<run>) open the run's page.
    const linked = await fetch(`${dashboard.url}runs/${encodeURIComponent(runId)}`);
    assert.equal(linked.status, 200);
    assert.ok((await linked.text()).includes(runId), 'the /runs/<run> link shows the run');

    // Queue: the paused run is still open.
    await page.goto(`${dashboard.url}queue`);
    assert.ok((await page.textContent('#queue'))?.includes(runWorkflowId(runId)), 'the queue lists the run');

    // Leaderboard: real photos and the base generator as rows, the held-out detector's column marked.
    console.log((await evaluation).split('\n').find((l) => l.startsWith('evaluation ')) ?? '');
    await page.goto(`${dashboard.url}leaderboard`);
    const names = await page.$$eval('#leaderboard tbody tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
    assert.ok(names.includes('real photos') && names.includes('base'), `rows: ${names.join(', ')}`);
    const heldout = ctx.config.evaluation.detectors.filter((d) => d.heldout).map((d) => d.name);
    const headers = await page.$$eval('#leaderboard thead th', (ths) => ths.map((th) => th.textContent));
    for (const d of heldout) assert.ok(headers.includes(`${d} (held-out)`), `held-out column ${d}: ${headers.join(' | ')}`);
    const boardShot = path.join(stateDir, 'dashboard-leaderboard.png');
    await page.screenshot({ path: boardShot, fullPage: true });
    console.log(`screenshot: ${boardShot}`);

    // The base row's report: charts and grid are served from the bucket through the dashboard and load.
    await page.click('#leaderboard a:text-is("base")');
    await page.waitForSelector('#headline');
    await waitPage(page, 'document.images.length > 0 && [...document.images].every((i) => i.complete)');
    const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ src: i.getAttribute('src'), w: i.naturalWidth })));
    assert.ok(images.length >= 2, `charts and grid: ${JSON.stringify(images)}`);
    for (const img of images)
      assert.ok(img.w > 0 && img.src?.startsWith('/files?key=eval'), `image loaded through the server: ${JSON.stringify(img)}`);
    const reportShot = path.join(stateDir, 'dashboard-report.png');
    await page.screenshot({ path: reportShot, fullPage: true });
    console.log(`screenshot: ${reportShot}`);

    await client.workflow.getHandle(runWorkflowId(runId)).terminate('ui test done');
  });
});
