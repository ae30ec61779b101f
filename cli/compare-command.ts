/**
 * `realgen compare A B`: two evaluated checkpoints (or runs, or evaluation keys) side by side: Detector-Scoring per
 * detector, the arena win rate, the training reward curves, and, where both evaluations drew the same RealBench items
 * (same suite and RealBench digest, so the same prompts and per-item seeds), the paired per-image test: a bootstrap CI
 * over prompts of the mean difference B − A and a sign-flip p-value (domain/stats/paired-test.ts).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { getJson, listLeaderboardEntries, reportKeys, shardKeys, shardsPrefixOf } from '../activities/evaluation/layout';
import type { ScoredShard, StoredPlan } from '../activities/evaluation/shard-records';
import { fmtRate, fmtScore } from '../domain/report/render-report';
import type { EvaluationReport, LeaderboardEntry } from '../domain/report/report-model';
import { pairByKey, pairedTest, type PairedTestResult } from '../domain/stats/paired-test';
import { lineChartPng } from '../infra/report/charts';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';
import { withContext } from './context';
import { addConfigOption, configFileOf, intOption } from './options';
import { makeTable } from './terminal';

interface Side {
  label: string;
  entry: LeaderboardEntry;
  report: EvaluationReport;
  curve: Array<{ step: number; reward: number }>;
}

/** A checkpoint prefix, an evaluation key, `base`, or a run id (its newest evaluated checkpoint). */
function pick(entries: readonly LeaderboardEntry[], what: string, suite: string | undefined): LeaderboardEntry {
  const bySuite = entries.filter((e) => suite === undefined || e.suite === suite);
  const newest = (xs: LeaderboardEntry[]) => xs.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))[0];
  const key = what.replace(/^evals?\//, '');
  const exact = bySuite.find((e) => e.evalKey === key);
  if (exact) return exact;
  const prefix = what.endsWith('/') ? what : `${what}/`;
  const ckpt = (e: LeaderboardEntry) => (e.source.kind === 'mini-checkpoint' ? e.source.checkpoint : null);
  const found =
    newest(bySuite.filter((e) => ckpt(e)?.prefix === prefix)) ??
    (what === 'base'
      ? newest(bySuite.filter((e) => e.source.kind === 'mini-checkpoint' && e.source.checkpoint === null))
      : undefined) ??
    newest(
      bySuite
        .filter((e) => ckpt(e)?.runId === what)
        .sort((a, b) => (ckpt(b)?.stage ?? '').localeCompare(ckpt(a)?.stage ?? '') || (ckpt(b)?.step ?? 0) - (ckpt(a)?.step ?? 0))
        .slice(0, 1),
    );
  if (!found)
    throw new Error(
      `${what}: no evaluation of that checkpoint, run or key${suite ? ` on suite ${suite}` : ''} (evaluate it with realgen eval)`,
    );
  return found;
}

async function sideOf(store: CheckpointStore, entry: LeaderboardEntry, label: string): Promise<Side> {
  const report = await getJson<EvaluationReport>(store, reportKeys(entry.evalKey).json);
  if (report === null) throw new Error(`${label}: no report.json for ${entry.evalKey}`);
  const ck = entry.source.kind === 'mini-checkpoint' ? entry.source.checkpoint : null;
  const state = ck ? await getJson<{ rewardHistory?: Side['curve'] }>(store, `${ck.prefix}state.json`).catch(() => null) : null;
  return { label, entry, report, curve: state?.rewardHistory ?? [] };
}

/** P(real) × 100 per item for each detector, from the evaluation's score shards. */
async function perItemScores(store: CheckpointStore, report: EvaluationReport): Promise<Map<string, Map<string, number>>> {
  const prefix = shardsPrefixOf(report.evalKey, report.evalDigest);
  const plan = await getJson<StoredPlan>(store, `${prefix}plan.json`);
  if (plan === null) throw new Error(`${report.evalKey}: plan.json missing under ${prefix}`);
  const out = new Map<string, Map<string, number>>();
  for (const s of plan.shards) {
    const shard = await getJson<ScoredShard>(store, shardKeys(prefix, s.index).scores);
    if (shard === null) throw new Error(`${report.evalKey}: scores of shard ${s.index} missing`);
    for (const item of shard.items) {
      for (const [d, v] of Object.entries(item.scores)) {
        if (v === null) continue;
        if (!out.has(d)) out.set(d, new Map());
        out.get(d)?.set(item.id, v * 100);
      }
    }
  }
  return out;
}

const ARENA_VALUE = { win: 1, tie: 0.5, loss: 0 } as const;

export function registerCompareCommand(program: Command): void {
  addConfigOption(
    program
      .command('compare')
      .description(
        'two evaluated checkpoints or runs side by side, with the paired per-image test where they share prompts and seeds',
      )
      .argument('<a>', 'checkpoint prefix, run id (its newest evaluated checkpoint), evaluation key, or "base"')
      .argument('<b>', 'the same kinds'),
  )
    .option('--suite <suite>', 'only evaluations of this suite')
    .option('--bootstrap <n>', 'bootstrap resamples', intOption('--bootstrap', 0), 2000)
    .option('--out <dir>', 'also write reward-curves.png there')
    .option('--json', 'print the comparison as JSON')
    .action(
      async (
        a: string,
        b: string,
        opts: { config?: string; suite?: string; bootstrap: number; out?: string; json?: boolean },
      ) => {
        await withContext(configFileOf(opts.config), async (ctx) => {
          const store = await ctx.store();
          const entries = await listLeaderboardEntries(store, (m) => console.error(`warning: ${m}`));
          const A = await sideOf(store, pick(entries, a, opts.suite), 'A');
          const B = await sideOf(store, pick(entries, b, opts.suite), 'B');
          const detectors = [...new Set([...A.report.detectors, ...B.report.detectors].map((d) => d.name))].sort();
          const heldout = new Set([...A.report.detectors, ...B.report.detectors].filter((d) => d.heldout).map((d) => d.name));
          const paired = A.report.suite === B.report.suite && A.report.realbenchDigest === B.report.realbenchDigest;
          const tests: Record<string, PairedTestResult> = {};
          if (paired) {
            const [sa, sb] = await Promise.all([perItemScores(store, A.report), perItemScores(store, B.report)]);
            for (const d of detectors) {
              const { diffs } = pairByKey(sa.get(d) ?? new Map(), sb.get(d) ?? new Map());
              if (diffs.length > 0) tests[d] = pairedTest(diffs, { bootstrap: opts.bootstrap, seed: ctx.config.seed });
            }
            const arena = (e: LeaderboardEntry) => new Map(e.outcomes.map((o) => [o.id, ARENA_VALUE[o.outcome]]));
            const { diffs } = pairByKey(arena(A.entry), arena(B.entry));
            if (diffs.length > 0)
              tests['arena (win=1, tie=½)'] = pairedTest(diffs, { bootstrap: opts.bootstrap, seed: ctx.config.seed });
          }
          const curveSummary = (c: Side['curve']) => {
            const last = c.slice(-10);
            return c.length === 0
              ? null
              : { steps: c.length, first: c[0]?.reward ?? null, lastMean: last.reduce((s, p) => s + p.reward, 0) / last.length };
          };
          const result = {
            a: { what: a, evalKey: A.entry.evalKey, name: A.entry.name },
            b: { what: b, evalKey: B.entry.evalKey, name: B.entry.name },
            detectorScoring: Object.fromEntries(
              detectors.map((d) => [
                d,
                {
                  a: A.report.headline.detectorScoring[d] ?? null,
                  b: B.report.headline.detectorScoring[d] ?? null,
                  heldout: heldout.has(d),
                },
              ]),
            ),
            arena: { a: A.report.headline.arenaWinRate, b: B.report.headline.arenaWinRate },
            rewardCurves: { a: curveSummary(A.curve), b: curveSummary(B.curve) },
            paired: paired ? tests : null,
            unpairedReason: paired
              ? null
              : `different suites or RealBench data (${A.report.suite}/${A.report.realbenchDigest.slice(0, 12)} vs ${B.report.suite}/${B.report.realbenchDigest.slice(0, 12)})`,
          };
          if (opts.out !== undefined && (A.curve.length > 0 || B.curve.length > 0)) {
            const all = [...A.curve, ...B.curve].map((p) => p.reward);
            const png = await lineChartPng({
              title: 'training reward',
              xTitle: 'step',
              yTitle: 'mean reward',
              yMin: Math.min(0, ...all),
              yMax: Math.max(...all, Math.min(0, ...all) + 1e-6),
              series: [
                { name: `A ${A.entry.name}`, points: A.curve.map((p) => [p.step, p.reward] as const) },
                { name: `B ${B.entry.name}`, points: B.curve.map((p) => [p.step, p.reward] as const) },
              ],
            });
            const file = path.join(path.resolve(opts.out), 'reward-curves.png');
            await writeFile(file, png);
            console.error(`reward curves: ${file}`);
          }
          if (opts.json) {
            console.log(JSON.stringify(result, null, 2));
            return;
          }
          console.log(`A = ${A.entry.name} (${A.entry.evalKey})\nB = ${B.entry.name} (${B.entry.evalKey})`);
          const t = makeTable(['metric', 'A', 'B', 'B − A', 'paired 95% CI', 'sign-flip p', 'n']);
          const row = (
            name: string,
            va: number | null,
            vb: number | null,
            fmt: (x: number | null) => string,
            test?: PairedTestResult,
          ) =>
            t.push([
              name,
              fmt(va),
              fmt(vb),
              va === null || vb === null ? '-' : (vb - va).toFixed(2),
              test ? `[${test.ci[0].toFixed(2)}, ${test.ci[1].toFixed(2)}]` : '-',
              test ? test.p.toPrecision(3) : '-',
              test ? String(test.n) : '-',
            ]);
          for (const d of detectors)
            row(
              `Detector-Scoring ${d}${heldout.has(d) ? ' (held-out)' : ''}`,
              result.detectorScoring[d]?.a ?? null,
              result.detectorScoring[d]?.b ?? null,
              fmtScore,
              tests[d],
            );
          const arenaTest = tests['arena (win=1, tie=½)'];
          row('arena win rate vs real', result.arena.a, result.arena.b, fmtRate, arenaTest);
          const ca = result.rewardCurves.a;
          const cb = result.rewardCurves.b;
          const fmtCurve = (c: typeof ca) =>
            c === null ? '-' : `${c.steps} steps, ${c.first?.toFixed(3)} → ${c.lastMean.toFixed(3)}`;
          t.push(['training reward (first → mean of last 10)', fmtCurve(ca), fmtCurve(cb), '-', '-', '-', '-']);
          console.log(t.toString());
          console.log(
            paired
              ? 'paired per image on the same prompts and seeds; CI: bootstrap over prompts; p: two-sided sign-flip test'
              : `not paired: ${result.unpairedReason}`,
          );
        });
      },
    );
}
