/**
 * Markdown and self-contained HTML renderings of an evaluation report. Pure: the report and the chart/grid bytes
 * in, text out. Every string from the report is escaped (HTML) or neutralised (Markdown table cells).
 */
import { describeGpuUsage } from '../cost/gpu-usage';
import type { ArenaSummary } from '../arena/verdict';
import type { ScoreStats } from '../realbench/detector-scoring';
import { paletteHex } from './chart-specs';
import type { EvaluationReport } from './report-model';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Makes text safe inside a Markdown table cell (pipes, newlines, HTML). */
export function escapeMdCell(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]+/g, ' ')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/** `12.3` for a 0–100 score, `–` for null. */
export function fmtScore(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

/** `[10.2, 14.9]`, or `–`. */
export function fmtCi(ci: readonly [number, number] | null | undefined, digits = 1): string {
  return ci ? `[${ci[0].toFixed(digits)}, ${ci[1].toFixed(digits)}]` : '–';
}

/** A [0, 1] rate as a percentage. */
export function fmtRate(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)}%`;
}

function sourceLine(r: EvaluationReport): string {
  const s = r.source;
  if (s.kind === 'mini-checkpoint') {
    return s.checkpoint === null
      ? 'realgen-mini base generator (no checkpoint)'
      : `realgen-mini checkpoint ${s.checkpoint.prefix} (manifest sha256 ${s.checkpoint.manifestSha256})`;
  }
  if (s.kind === 'images') return `uploaded images ${s.s3Prefix}`;
  return `external command ${s.command}`;
}

function arenaCi(a: ArenaSummary): [number, number] | null {
  return a.interval ? [a.interval.lower, a.interval.upper] : null;
}

/** Rows of a table as Markdown. */
function mdTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.map(escapeMdCell).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

interface Tables {
  summary: { header: string[]; rows: string[][] };
  detectors: { header: string[]; rows: string[][] };
  categories: { header: string[]; rows: string[][] };
  arena: { header: string[]; rows: string[][] };
  /** One row per evaluated checkpoint step of the run (shown when there is more than one). */
  history: { header: string[]; rows: string[][] };
}

function categoriesOf(r: EvaluationReport): string[] {
  const set = new Set<string>();
  for (const d of Object.values(r.detectorScoring)) for (const c of Object.keys(d.byCategory)) set.add(c);
  for (const c of Object.keys(r.arena.byCategory)) set.add(c);
  return [...set].sort();
}

function tables(r: EvaluationReport): Tables {
  const names = r.detectors.map((d) => d.name);
  const label = (n: string) => (r.detectors.find((d) => d.name === n)?.heldout ? `${n} (held-out)` : n);
  const stat = (n: string, c: string | null): ScoreStats | undefined => {
    const d = r.detectorScoring[n];
    return d === undefined ? undefined : c === null ? d.overall : d.byCategory[c];
  };
  const a = r.arena.overall;
  const summary = {
    header: ['metric', 'value'],
    rows: [
      ['images', String(r.images)],
      ...names.map((n) => [
        `Detector-Scoring ${label(n)}`,
        `${fmtScore(r.headline.detectorScoring[n])} ${fmtCi(stat(n, null)?.scoreCi)}`,
      ]),
      [
        'arena win rate vs real',
        `${fmtRate(r.headline.arenaWinRate)} ${r.headline.arenaCi ? `[${fmtRate(r.headline.arenaCi[0])}, ${fmtRate(r.headline.arenaCi[1])}]` : ''}`.trim(),
      ],
      ['position consistency', fmtRate(r.headline.positionConsistency)],
      ['arena pairs (win / loss / tie)', `${a.pairs} (${a.wins} / ${a.losses} / ${a.ties})`],
      ['ties from unparseable answers', String(a.unparseable)],
      ['pairs the judge could not judge', String(r.arena.errors)],
    ],
  };
  const detectors = {
    header: ['detector', 'n', 'failed', 'score (mean P(real)×100)', '95% CI', 'share real %', '95% CI'],
    rows: names.map((n) => {
      const s = stat(n, null);
      return [
        label(n),
        String(s?.n ?? 0),
        String(s?.failed ?? 0),
        fmtScore(s?.score),
        fmtCi(s?.scoreCi),
        fmtScore(s?.shareReal),
        fmtCi(s?.shareRealCi),
      ];
    }),
  };
  const cats = categoriesOf(r);
  const categories = {
    header: ['category', ...names.map((n) => `${label(n)} score [CI]`), 'arena win rate'],
    rows: cats.map((c) => [
      c,
      ...names.map((n) => {
        const s = stat(n, c);
        return `${fmtScore(s?.score)} ${fmtCi(s?.scoreCi)}`;
      }),
      fmtRate(r.arena.byCategory[c]?.winRate),
    ]),
  };
  const arena = {
    header: ['set', 'pairs', 'wins', 'losses', 'ties', 'win rate', '95% Wilson CI', 'position consistency'],
    rows: [['all', a] as const, ...cats.flatMap((c) => (r.arena.byCategory[c] ? [[c, r.arena.byCategory[c]] as const] : []))].map(
      ([name, s]) => {
        const ci = arenaCi(s);
        return [
          name,
          String(s.pairs),
          String(s.wins),
          String(s.losses),
          String(s.ties),
          fmtRate(s.winRate),
          ci ? `[${fmtRate(ci[0])}, ${fmtRate(ci[1])}]` : '–',
          fmtRate(s.positionConsistency),
        ];
      },
    ),
  };
  const history = {
    header: ['stage', 'step', ...r.detectors.map((d) => d.name), 'arena win rate'],
    rows: r.history.map((h) => [
      h.stage,
      String(h.step),
      ...r.detectors.map((d) => fmtScore(h.detectorScoring[d.name])),
      fmtRate(h.arenaWinRate),
    ]),
  };
  return { summary, detectors, categories, arena, history };
}

/** Paths of the chart/grid files relative to the report (they sit next to it). */
function relative(r: EvaluationReport, key: string): string {
  const dir = r.keys.md.slice(0, r.keys.md.lastIndexOf('/') + 1);
  return key.startsWith(dir) ? key.slice(dir.length) : key;
}

/** The report as Markdown; images are linked relative to the report's folder. */
export function renderMarkdown(r: EvaluationReport): string {
  const t = tables(r);
  const out: string[] = [
    `# RealBench evaluation: ${escapeMdCell(r.name)} (${escapeMdCell(r.suite)})`,
    '',
    `- subject: ${escapeMdCell(sourceLine(r))}`,
    `- evaluation key: \`${r.evalKey}\`, evaluated ${r.createdAt}`,
    ...(r.gpu ? [`- GPU usage (generation + scoring): ${describeGpuUsage(r.gpu.seconds, r.gpu.costPerGpuHour)}`] : []),
    `- judge: ${escapeMdCell(r.arena.judge)}, both orders per pair; a pair whose answer stays unparseable counts as a tie and is flagged`,
    `- RealBench digest ${r.realbenchDigest.slice(0, 16)}…, config digest ${r.configDigest.slice(0, 16)}…, evaluation digest ${r.evalDigest.slice(0, 16)}…`,
    '',
    '## Headline',
    '',
    mdTable(t.summary.header, t.summary.rows),
    '',
    '## Detector-Scoring',
    '',
    'Mean P(real) × 100 over the generated images, with a 95% percentile-bootstrap interval; "share real" is the percentage with P(real) > 0.5.',
    '',
    mdTable(t.detectors.header, t.detectors.rows),
    '',
    '### Per category',
    '',
    mdTable(t.categories.header, t.categories.rows),
    '',
    '## Arena-Scoring against the real photos',
    '',
    'Win = the judge prefers the generated image in both orders; loss = the real photo in both; anything else is a tie (0.5). 50% means indistinguishable.',
    '',
    mdTable(t.arena.header, t.arena.rows),
    '',
  ];
  if (r.arena.cost) {
    const c = r.arena.cost;
    out.push(
      `Judge cost: ${c.requests} requests (${c.retries} transport retries, ${c.parseRetries} re-asks), ${c.promptTokens} prompt + ${c.completionTokens} completion tokens.`,
      '',
    );
  }
  if (r.charts.length > 0) out.push('## Charts', '');
  for (const c of r.charts) {
    out.push(`### ${escapeMdCell(c.title)}`, '', `![${escapeMdCell(c.title)}](${relative(r, c.key)})`, '');
    out.push(`Series: ${c.series.map((s, i) => `${escapeMdCell(s)} (${paletteHex(i)})`).join(', ')}.`);
    out.push('');
  }
  if (r.history.length > 1) {
    out.push('## Score per checkpoint step', '', mdTable(t.history.header, t.history.rows), '');
  }
  if (r.grid) {
    out.push(
      '## Generated (left) vs real (right)',
      '',
      `![generated vs real](${relative(r, r.grid.key)})`,
      '',
      `Items: ${r.grid.ids.join(', ')}.`,
      '',
    );
  }
  return `${out.join('\n')}\n`;
}

function htmlTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const th = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** PNG bytes of the report's charts (by chart name) and grid, inlined as data URIs. */
export interface HtmlAssets {
  charts: Record<string, Buffer>;
  grid?: Buffer | null;
}

function dataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** The report as one self-contained HTML page (styles inline, images as data URIs, no scripts). */
export function renderHtml(r: EvaluationReport, assets: HtmlAssets): string {
  const t = tables(r);
  const title = `RealBench evaluation: ${r.name} (${r.suite})`;
  const parts: string[] = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    '<style>body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}code{background:#f3f3f3;padding:0 3px}.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle}img{max-width:100%}</style>',
    '</head><body>',
    `<h1>${escapeHtml(title)}</h1>`,
    '<ul>',
    `<li>subject: ${escapeHtml(sourceLine(r))}</li>`,
    `<li>evaluation key: <code>${escapeHtml(r.evalKey)}</code>, evaluated ${escapeHtml(r.createdAt)}</li>`,
    ...(r.gpu
      ? [`<li>GPU usage (generation + scoring): ${escapeHtml(describeGpuUsage(r.gpu.seconds, r.gpu.costPerGpuHour))}</li>`]
      : []),
    `<li>judge: ${escapeHtml(r.arena.judge)}, both orders per pair; an answer that stays unparseable makes the pair a flagged tie</li>`,
    '</ul>',
    '<h2>Headline</h2>',
    htmlTable(t.summary.header, t.summary.rows),
    '<h2>Detector-Scoring</h2>',
    '<p>Mean P(real) × 100 over the generated images with a 95% percentile-bootstrap interval; share real = percentage with P(real) &gt; 0.5.</p>',
    htmlTable(t.detectors.header, t.detectors.rows),
    '<h3>Per category</h3>',
    htmlTable(t.categories.header, t.categories.rows),
    '<h2>Arena-Scoring against the real photos</h2>',
    '<p>Win = preferred in both orders, loss = the real photo preferred in both, otherwise a tie (0.5). 50% means indistinguishable.</p>',
    htmlTable(t.arena.header, t.arena.rows),
  ];
  for (const c of r.charts) {
    const png = assets.charts[c.name];
    parts.push(`<h3>${escapeHtml(c.title)}</h3>`);
    if (png) parts.push(`<img alt="${escapeHtml(c.title)}" src="${dataUri(png)}">`);
    parts.push(
      `<p>${c.series.map((s, i) => `<span class="sw" style="background:${paletteHex(i)}"></span>${escapeHtml(s)}`).join('')}</p>`,
    );
  }
  if (r.history.length > 1) {
    parts.push('<h2>Score per checkpoint step</h2>', htmlTable(t.history.header, t.history.rows));
  }
  if (r.grid && assets.grid) {
    parts.push(
      '<h2>Generated (left) vs real (right)</h2>',
      `<img alt="generated vs real" src="${dataUri(assets.grid)}">`,
      `<p>${escapeHtml(r.grid.ids.join(', '))}</p>`,
    );
  }
  parts.push('</body></html>');
  return `${parts.join('\n')}\n`;
}
