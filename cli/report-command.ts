/** `realgen report KEY [--out DIR] [--open]`: an evaluation's headline numbers, a working link, or the files. */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { evalPrefix, getJson, mustGetBytes, reportKeys } from '../activities/evaluation/layout';
import type { EvaluationReport } from '../domain/report/report-model';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';
import { withContext } from './context';
import { addConfigOption, configFileOf } from './options';
import { headlineTable, printReportLinks } from './report-output';

/** Writes report.{json,md,html}, the charts and the grid under `dir`, laid out as in the bucket; returns the HTML path. */
async function downloadReport(store: CheckpointStore, report: EvaluationReport, dir: string): Promise<string> {
  const prefix = evalPrefix(report.evalKey);
  const keys = [
    report.keys.json,
    report.keys.md,
    report.keys.html,
    ...report.charts.map((c) => c.key),
    ...(report.grid ? [report.grid.key] : []),
  ];
  for (const key of keys) {
    if (!key.startsWith(prefix)) throw new Error(`report ${report.evalKey}: file ${key} lies outside ${prefix}; not downloaded`);
    const file = path.join(dir, key.slice(prefix.length));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, await mustGetBytes(store, key, 'report file'));
  }
  return path.join(dir, report.keys.html.slice(prefix.length));
}

/** Opens `target` with xdg-open when there is one; says so when there is not. */
async function openInBrowser(target: string): Promise<void> {
  const opened = await new Promise<boolean>((resolve) => {
    const child = spawn('xdg-open', [target], { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
  console.log(opened ? `opened ${target}` : `--open: no browser opener (xdg-open) on this machine; open ${target} yourself`);
}

export function registerReportCommand(program: Command): void {
  addConfigOption(
    program
      .command('report')
      .description('an evaluation report: headline numbers and a link that opens it, or the files with --out')
      .argument('<evalKey>', 'evaluation key (<subject>/<suite>, e.g. the workflow id without eval/)'),
  )
    .option('--json', 'print report.json')
    .option('--out <dir>', 'download report.md, report.html, report.json, the charts and the image grid into DIR')
    .option('--open', 'open the report in a browser (the downloaded file with --out, else the link)')
    .action(async (evalKey: string, opts: { config?: string; json?: boolean; out?: string; open?: boolean }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const store = await ctx.store();
        const key = evalKey.replace(/^eval\//, '');
        const report = await getJson<EvaluationReport>(store, reportKeys(key).json);
        if (report === null)
          throw new Error(
            `no report for ${key} (s3://${store.bucket}/${reportKeys(key).json}); is the evaluation still running?`,
          );
        if (opts.json) {
          console.log(JSON.stringify(report, null, 2));
          return;
        }
        console.log(`${report.name} on ${report.suite}, evaluated ${report.createdAt} (judge ${report.arena.judge})`);
        console.log(headlineTable(report.headline, report.detectors));
        if (opts.out !== undefined) {
          const html = await downloadReport(store, report, path.resolve(opts.out));
          console.log(`report downloaded: ${html}`);
          console.log(
            `markdown:          ${path.join(path.resolve(opts.out), report.keys.md.slice(evalPrefix(report.evalKey).length))}`,
          );
          if (opts.open) await openInBrowser(html);
          return;
        }
        await printReportLinks(ctx, report.keys);
        if (opts.open) await openInBrowser(await store.client.presignedGetObject(store.bucket, report.keys.html, 3600));
      });
    });
}
