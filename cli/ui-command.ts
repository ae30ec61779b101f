/** `realgen ui`: the dashboard (services/ui/) on loopback, or elsewhere behind a bearer token. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { getJson, listLeaderboardEntries, reportKeys } from '../activities/evaluation/layout';
import type { EvaluationReport } from '../domain/report/report-model';
import { startDashboard } from '../services/ui/server';
import { withContext } from './context';
import { addConfigOption, configFileOf, intOption } from './options';
import { untilStopSignal } from './until-signal';

/** The token from --token-file, else $REALGEN_UI_TOKEN; the error names the file, never the value. */
function uiToken(tokenFile: string | undefined): string | undefined {
  if (tokenFile !== undefined) {
    let token: string;
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new Error(`--token-file: ${tokenFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (token === '') throw new Error(`--token-file: ${tokenFile} is empty`);
    return token;
  }
  const env = process.env.REALGEN_UI_TOKEN?.trim();
  return env === '' ? undefined : env;
}

export function registerUiCommand(program: Command): void {
  addConfigOption(
    program
      .command('ui')
      .description('the dashboard: runs, progress, checkpoints, pause/resume/cancel, leaderboard, reports, queue'),
  )
    .option('--host <host>', 'address to bind; anything but loopback needs a token', '127.0.0.1')
    .option('--port <n>', 'port (0: a free one)', intOption('--port', 0), 8765)
    .option('--token-file <file>', 'bearer token file (default: $REALGEN_UI_TOKEN)')
    .action(async (opts: { config?: string; host: string; port: number; tokenFile?: string }) => {
      const token = uiToken(opts.tokenFile);
      await withContext(configFileOf(opts.config), async (ctx) => {
        const store = await ctx.store();
        const dashboard = await startDashboard(
          {
            client: await ctx.client(),
            store,
            config: ctx.config,
            leaderboardEntries: () => listLeaderboardEntries(store, (m) => console.error(`warning: ${m}`)),
            readReport: (evalKey) => getJson<EvaluationReport>(store, reportKeys(evalKey.replace(/^eval\//, '')).json),
          },
          { host: opts.host, port: opts.port, ...(token !== undefined ? { token } : {}) },
        );
        console.log(
          `dashboard: ${dashboard.url}${token !== undefined ? ' (bearer token required; open once with ?token=…)' : ''}`,
        );
        await untilStopSignal();
        await dashboard.close();
      });
    });
}
