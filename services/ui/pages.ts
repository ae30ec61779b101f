/**
 * The dashboard's pages, rendered on the server from what Temporal and the bucket say now: runs, one run (live
 * progress polled by assets/app.js, reward curve, checkpoints, pause/resume/cancel), queue and schedules, the
 * leaderboard (domain/report/leaderboard.ts) and the evaluation reports.
 */
import type { Client } from '@temporalio/client';
import type { RunConfig } from '../../configs/schema';
import { checkpointPrefix } from '../../contracts/checkpoint-manifest';
import { runWorkflowId, stageKey } from '../../contracts/ids';
import { buildLeaderboard } from '../../domain/report/leaderboard';
import { fmtCi, fmtRate, fmtScore } from '../../domain/report/render-report';
import type { EvaluationReport, LeaderboardEntry } from '../../domain/report/report-model';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { esc, href, page, table } from './html';

/** What the dashboard reads; the CLI builds it from its context (services may not import activities/). */
export interface DashboardSources {
  client: Client;
  store: CheckpointStore;
  config: RunConfig;
  /** Every leaderboard entry in the bucket. */
  leaderboardEntries(): Promise<LeaderboardEntry[]>;
  /** An evaluation's report.json, null when there is none. */
  readReport(evalKey: string): Promise<EvaluationReport | null>;
}

const TRAINING_TYPES = ['realgenPipeline', 'trainStage', 'evaluateCheckpoint'];

export async function runsPage(src: DashboardSources): Promise<string> {
  const rows: string[][] = [];
  for await (const wf of src.client.workflow.list({ query: `WorkflowType = 'realgenPipeline'` })) {
    const runId = wf.workflowId.replace(/^run\//, '');
    rows.push([
      `<a href="${href('/run', { id: runId })}">${esc(runId)}</a>`,
      esc(wf.status.name),
      esc(wf.startTime.toISOString()),
      esc(wf.closeTime?.toISOString() ?? '-'),
    ]);
    if (rows.length >= 100) break;
  }
  const body =
    rows.length === 0
      ? '<p>No runs yet (start one with <code>realgen run CONFIG</code>).</p>'
      : table(['run', 'status', 'started', 'closed'], rows, 'id="runs"');
  return page('Runs', body);
}

export async function queuePage(src: DashboardSources): Promise<string> {
  const open: string[][] = [];
  const types = TRAINING_TYPES.map((t) => `'${t}'`).join(', ');
  for await (const wf of src.client.workflow.list({ query: `ExecutionStatus = 'Running' AND WorkflowType IN (${types})` })) {
    open.push([esc(wf.type), esc(wf.workflowId), esc(wf.taskQueue), esc(wf.startTime.toISOString())]);
    if (open.length >= 200) break;
  }
  open.reverse(); // oldest first: the order they were submitted in
  const schedules: string[][] = [];
  for await (const s of src.client.schedule.list()) {
    const action = s.action?.type === 'startWorkflow' ? s.action.workflowType : '-';
    const next = s.info.nextActionTimes[0]?.toISOString() ?? '-';
    const last = s.info.recentActions.at(-1)?.takenAt.toISOString() ?? '-';
    schedules.push([esc(s.scheduleId), esc(action), esc(s.state.paused ? 'paused' : 'active'), esc(last), esc(next)]);
  }
  return page(
    'Queue & schedules',
    `<h2>Open runs and evaluations (oldest first)</h2>
${open.length === 0 ? '<p>Nothing running or waiting.</p>' : table(['type', 'workflow', 'task queue', 'started'], open, 'id="queue"')}
<h2>Schedules</h2>
${schedules.length === 0 ? '<p>No schedules.</p>' : table(['schedule', 'starts', 'state', 'last action', 'next action'], schedules, 'id="schedules"')}`,
  );
}

/** The checkpoints of every stage of a run, newest first, each file downloadable through the dashboard. */
async function checkpointsHtml(src: DashboardSources, runId: string): Promise<string> {
  const rows: string[][] = [];
  for (const s of src.config.stages) {
    const stage = stageKey(s.stage);
    for (const step of await src.store.listCheckpointSteps(runId, stage)) {
      const prefix = checkpointPrefix(runId, stage, step);
      const found = await src.store.tryReadManifest(prefix);
      if (found === null || 'invalid' in found) {
        rows.push([
          esc(stage),
          esc(step),
          esc(found === null ? 'half-written (no manifest)' : `invalid manifest: ${found.invalid}`),
          '-',
        ]);
        continue;
      }
      const files = found.manifest.files
        .map((f) => `<a href="${href('/files', { key: prefix + f.path })}" download>${esc(f.path)}</a> (${esc(f.size)} B)`)
        .join('<br>');
      const manifestLink = `<a href="${href('/files', { key: `${prefix}manifest.json` })}" download>manifest.json</a>`;
      rows.push([
        esc(stage),
        esc(step),
        `<code>${esc(prefix)}</code><br>${esc(found.manifest.createdAt)}`,
        `${files}<br>${manifestLink}`,
      ]);
    }
  }
  if (rows.length === 0) return '<p>No checkpoints yet.</p>';
  return table(['stage', 'step', 'checkpoint', 'files (download)'], rows, 'id="checkpoints"');
}

export async function runPage(src: DashboardSources, runId: string): Promise<string> {
  const desc = await src.client.workflow.getHandle(runWorkflowId(runId)).describe();
  const body = `<section id="run" data-run="${esc(runId)}" data-poll-ms="1000">
<div class="progress">
  <div>status <strong id="run-status">${esc(desc.status.name)}</strong>, phase <span id="run-phase">-</span></div>
  <div><span id="run-stage">-</span>: step <strong id="run-step">-</strong> / <span id="run-max-steps">-</span>
    (<span id="run-state">-</span>), reward <span id="run-reward">-</span>, eta <span id="run-eta">-</span></div>
  <div class="bar"><div id="run-bar" style="width:0%"></div></div>
  <div>segment: <span id="run-liveness">-</span></div>
  <div id="run-error" class="error"></div>
</div>
<p><button id="btn-pause">Pause</button><button id="btn-resume">Resume</button><button id="btn-cancel">Cancel</button>
<span id="action-msg" class="msg"></span></p>
<h2>Reward curve (running stage, mean reward per step)</h2>
<svg id="reward-curve" class="curve" width="560" height="200" viewBox="0 0 560 200" role="img" aria-label="reward curve"></svg>
</section>
<h2>Checkpoints</h2>
${await checkpointsHtml(src, runId)}`;
  return page(`Run ${runId}`, body);
}

export async function leaderboardPage(src: DashboardSources): Promise<string> {
  const board = buildLeaderboard(await src.leaderboardEntries(), {
    heldoutDetectors: src.config.evaluation.detectors.filter((d) => d.heldout).map((d) => d.name),
  });
  if (board.rows.length === 0) return page('Leaderboard', '<p>No evaluations yet (run <code>realgen eval</code>).</p>');
  const headers = [
    '#',
    'name',
    'kind',
    ...board.columns.map((c) => (c.heldout ? `<span class="heldout">${esc(c.detector)} (held-out)</span>` : esc(c.detector))),
    'arena win rate [95% CI]',
    'Bradley–Terry [95% CI]',
  ];
  const rows = board.rows.map((r, i) => [
    esc(i + 1),
    r.evalKey === null ? esc(r.name) : `<a href="${href('/report', { key: r.evalKey })}">${esc(r.name)}</a>`,
    esc(r.kind),
    ...board.columns.map((c) => (r.kind === 'real' ? '–' : esc(fmtScore(r.detectorScoring[c.detector])))),
    r.kind === 'real'
      ? '50% (reference)'
      : esc(`${fmtRate(r.arenaWinRate)} ${r.arenaCi ? `[${fmtRate(r.arenaCi[0])}, ${fmtRate(r.arenaCi[1])}]` : ''}`.trim()),
    r.kind === 'real' ? '1000 (anchor)' : r.bt ? esc(`${r.bt.rating.toFixed(0)} ${fmtCi(r.bt.ci, 0)}`) : '–',
  ]);
  const notes = board.notes.map((n) => `<li>${esc(n)}</li>`).join('');
  return page('Leaderboard', `${table(headers, rows, 'id="leaderboard"')}<ul class="notes">${notes}</ul>`);
}

export async function reportsPage(src: DashboardSources): Promise<string> {
  const entries = (await src.leaderboardEntries()).sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  if (entries.length === 0) return page('Reports', '<p>No evaluation reports yet.</p>');
  const rows = entries.map((e) => [
    `<a href="${href('/report', { key: e.evalKey })}">${esc(e.evalKey)}</a>`,
    esc(e.name),
    esc(e.suite),
    esc(e.createdAt),
  ]);
  return page('Reports', table(['evaluation', 'name', 'suite', 'created'], rows, 'id="reports"'));
}

export async function reportPage(src: DashboardSources, evalKey: string): Promise<string | null> {
  const report = await src.readReport(evalKey);
  if (report === null) return null;
  const h = report.headline;
  const headline = table(
    ['metric', 'value'],
    [
      ['images', esc(h.images)],
      ...report.detectors.map((d) => [
        `Detector-Scoring ${esc(d.name)}${d.heldout ? ' (held-out)' : ''}`,
        esc(fmtScore(h.detectorScoring[d.name])),
      ]),
      [
        'arena win rate vs real',
        esc(`${fmtRate(h.arenaWinRate)} ${h.arenaCi ? `[${fmtRate(h.arenaCi[0])}, ${fmtRate(h.arenaCi[1])}]` : ''}`.trim()),
      ],
      ['position consistency', esc(fmtRate(h.positionConsistency))],
    ],
    'id="headline"',
  );
  const charts = report.charts.map(
    (c) =>
      `<figure><img class="chart" src="${href('/files', { key: c.key })}" alt="${esc(c.title)}"><figcaption>${esc(c.title)}</figcaption></figure>`,
  );
  const grid = report.grid
    ? `<h2>Generated vs real</h2><img class="chart" id="grid" src="${href('/files', { key: report.grid.key })}" alt="image grid">`
    : '';
  const files = (['html', 'md', 'json'] as const)
    .map((k) => `<a href="${href('/files', { key: report.keys[k] })}">report.${k}</a>`)
    .join(' · ');
  return page(
    `${report.name} on ${report.suite}`,
    `<p>evaluated ${esc(report.createdAt)}, judge ${esc(report.arena.judge)} · ${files}</p>${headline}<h2>Charts</h2>${charts.join('\n')}${grid}`,
  );
}
