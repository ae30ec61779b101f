import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeVerdicts } from '../../../domain/arena/verdict';
import { scoreDetectors } from '../../../domain/realbench/detector-scoring';
import {
  escapeHtml,
  escapeMdCell,
  fmtCi,
  fmtRate,
  fmtScore,
  renderHtml,
  renderMarkdown,
} from '../../../domain/report/render-report';
import { REPORT_SCHEMA, type EvaluationReport } from '../../../domain/report/report-model';

function report(name = 'my <model> | "x"'): EvaluationReport {
  const items = [
    { id: '00000', category: 'animals', scores: { d: 0.8, h: 0.3 } },
    { id: '00010', category: 'people', scores: { d: 0.6, h: null } },
  ];
  const verdicts = [
    { outcome: 'win' as const, score: 1 as const, consistent: true, unparseable: false },
    { outcome: 'tie' as const, score: 0.5 as const, consistent: false, unparseable: true },
  ];
  const overall = summarizeVerdicts(verdicts);
  return {
    schema: REPORT_SCHEMA,
    evalKey: 'abc/smoke',
    name,
    suite: 'smoke',
    source: { kind: 'images', s3Prefix: 'uploads/images/x/1/' },
    createdAt: '2026-01-01T00:00:00.000Z',
    images: 2,
    realbenchDigest: 'a'.repeat(64),
    configDigest: 'b'.repeat(64),
    evalDigest: 'c'.repeat(64),
    detectors: [
      { name: 'd', heldout: false },
      { name: 'h', heldout: true },
    ],
    detectorScoring: scoreDetectors(items, { bootstrap: 20 }),
    arena: {
      judge: 'local:h',
      overall,
      byCategory: { animals: summarizeVerdicts(verdicts.slice(0, 1)), people: summarizeVerdicts(verdicts.slice(1)) },
      errors: 0,
    },
    headline: {
      detectorScoring: { d: 70, h: 30 },
      arenaWinRate: overall.winRate,
      arenaCi: [overall.interval?.lower ?? 0, overall.interval?.upper ?? 1],
      positionConsistency: overall.positionConsistency,
      images: 2,
    },
    charts: [
      {
        name: 'detector-scoring',
        title: 'Detector-Scoring <per> category',
        key: 'evals/abc/smoke/charts/detector-scoring.png',
        series: ['d', 'h'],
        groups: ['animals', 'people'],
      },
    ],
    grid: { key: 'evals/abc/smoke/grid.png', ids: ['00000'] },
    history: [],
    keys: {
      json: 'evals/abc/smoke/report.json',
      md: 'evals/abc/smoke/report.md',
      html: 'evals/abc/smoke/report.html',
      leaderboardEntry: 'leaderboard/entries/abc__smoke.json',
    },
  };
}

describe('render-report', () => {
  it('escapes HTML and Markdown table cells', () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    assert.equal(escapeMdCell('a|b\nc<d>'), 'a\\|b c&lt;d&gt;');
    assert.equal(fmtScore(null), '–');
    assert.equal(fmtScore(12.345), '12.3');
    assert.equal(fmtCi([1, 2.25]), '[1.0, 2.3]');
    assert.equal(fmtRate(0.5), '50.0%');
  });

  it('renders Markdown with the headline, detector, category and arena tables and relative image links', () => {
    const md = renderMarkdown(report());
    assert.match(md, /^# RealBench evaluation: my &lt;model&gt; \\\| "x" \(smoke\)/);
    assert.match(md, /\| Detector-Scoring d \| 70\.0 /);
    assert.match(md, /\| Detector-Scoring h \(held-out\) \| 30\.0 /);
    assert.match(md, /\| arena win rate vs real \| 75\.0% /);
    assert.match(md, /\| ties from unparseable answers \| 1 \|/);
    assert.match(md, /\| animals \| /);
    assert.match(md, /!\[Detector-Scoring &lt;per&gt; category\]\(charts\/detector-scoring\.png\)/);
    assert.match(md, /!\[generated vs real\]\(grid\.png\)/);
    // The charts label their own groups (vega-lite axes), so the text carries no group numbering.
    assert.doesNotMatch(md, /Groups: 1 = /);
  });

  it('renders a self-contained HTML page with data URIs and no unescaped report text', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    const html = renderHtml(report('<script>alert(1)</script>'), { charts: { 'detector-scoring': png }, grid: png });
    assert.ok(html.startsWith('<!doctype html>'));
    assert.doesNotMatch(html, /<script>/);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    const srcs = [...html.matchAll(/src="([^"]*)"/g)].map((m) => m[1] ?? '');
    assert.equal(srcs.length, 2);
    for (const s of srcs) assert.ok(s.startsWith(`data:image/png;base64,${png.toString('base64')}`));
    assert.match(html, /<td>Detector-Scoring h \(held-out\)<\/td>/);
  });
});
