/** How the CLI shows an evaluation: the headline table and links to the report files that open. */
import { fmtRate, fmtScore } from '../domain/report/render-report';
import type { Headline } from '../domain/report/report-model';
import type { CliContext } from './context';
import { makeTable } from './terminal';

/** Presigned links expire after this long (S3 allows at most 7 days). */
export const LINK_EXPIRY_SECONDS = 24 * 3600;

export function headlineTable(h: Headline, detectors: ReadonlyArray<{ name: string; heldout: boolean }>): string {
  const t = makeTable(['metric', 'value']);
  t.push(['images', String(h.images)]);
  for (const d of detectors)
    t.push([`Detector-Scoring ${d.name}${d.heldout ? ' (held-out)' : ''}`, fmtScore(h.detectorScoring[d.name])]);
  t.push([
    'arena win rate vs real',
    `${fmtRate(h.arenaWinRate)} ${h.arenaCi ? `[${fmtRate(h.arenaCi[0])}, ${fmtRate(h.arenaCi[1])}]` : ''}`.trim(),
  ]);
  t.push(['position consistency', fmtRate(h.positionConsistency)]);
  return t.toString();
}

/**
 * Prints each report file's object URL and a presigned link that opens it (the bucket is private, so a plain
 * endpoint URL answers 403). The HTML report inlines its images, so its link alone shows everything.
 */
export async function printReportLinks(ctx: CliContext, keys: { json: string; md: string; html: string }): Promise<void> {
  const store = await ctx.store();
  const hours = LINK_EXPIRY_SECONDS / 3600;
  for (const [what, key] of Object.entries(keys)) console.log(`${what.padEnd(5)} s3://${store.bucket}/${key}`);
  const url = await store.client.presignedGetObject(store.bucket, keys.html, LINK_EXPIRY_SECONDS);
  console.log(`open the HTML report (link valid ${hours} h): ${url}`);
  console.log('or download it: realgen report <key> --out DIR');
}
