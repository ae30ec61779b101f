/** `realgen leaderboard`: every evaluation in the bucket, with the real photos and the base generator as rows. */
import type { Command } from 'commander';
import { listLeaderboardEntries } from '../activities/evaluation/layout';
import { buildLeaderboard, type Leaderboard } from '../domain/report/leaderboard';
import { fmtCi, fmtRate, fmtScore } from '../domain/report/render-report';
import { withContext } from './context';
import { addConfigOption, configFileOf, intOption } from './options';
import { makeTable } from './terminal';

function leaderboardTable(board: Leaderboard): string {
  const t = makeTable([
    '#',
    'name',
    ...board.columns.map((c) => (c.heldout ? `${c.detector} (held-out)` : c.detector)),
    'arena win rate [95% CI]',
    'Bradley–Terry [95% CI]',
  ]);
  board.rows.forEach((r, i) =>
    t.push([
      String(i + 1),
      r.kind === 'base' && r.name !== 'base' ? `${r.name} (base)` : r.name,
      ...board.columns.map((c) => (r.kind === 'real' ? '–' : fmtScore(r.detectorScoring[c.detector]))),
      r.kind === 'real'
        ? '50% (reference)'
        : `${fmtRate(r.arenaWinRate)} ${r.arenaCi ? `[${fmtRate(r.arenaCi[0])}, ${fmtRate(r.arenaCi[1])}]` : ''}`.trim(),
      r.kind === 'real' ? '1000 (anchor)' : r.bt ? `${r.bt.rating.toFixed(0)} ${fmtCi(r.bt.ci, 0)}` : '–',
    ]),
  );
  return t.toString();
}

export function registerLeaderboardCommand(program: Command): void {
  addConfigOption(
    program
      .command('leaderboard')
      .description('every evaluation in the bucket, with the real photos and the base generator as rows'),
  )
    .option('--suite <suite>', 'only evaluations of this suite (ratings across suites are not comparable)')
    .option('--bootstrap <n>', 'Bradley–Terry bootstrap resamples', intOption('--bootstrap', 0), 200)
    .option('--json', 'print {columns, rows, sortedBy, notes} as JSON')
    .action(async (opts: { config?: string; suite?: string; bootstrap: number; json?: boolean }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const entries = await listLeaderboardEntries(await ctx.store(), (m) => console.error(`warning: ${m}`));
        const board = buildLeaderboard(entries, {
          ...(opts.suite !== undefined ? { suite: opts.suite } : {}),
          bootstrap: opts.bootstrap,
          heldoutDetectors: ctx.config.evaluation.detectors.filter((d) => d.heldout).map((d) => d.name),
        });
        if (opts.json) {
          console.log(JSON.stringify(board, null, 2));
          return;
        }
        if (board.rows.length === 0) {
          console.log('no evaluations yet (run realgen eval)');
          return;
        }
        console.log(leaderboardTable(board));
        for (const note of board.notes) console.log(note);
      });
    });
}
