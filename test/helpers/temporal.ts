/** Temporal client and workers for integration tests, on the shared test stack. */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { spawnSync } from 'node:child_process';
import { TEMPORAL_BIN } from '../../devstack/stack-binaries';
import { testStack } from './stack';

export async function testClient(): Promise<Client> {
  const s = await testStack();
  const connection = await Connection.connect({ address: s.temporalAddress });
  return new Client({ connection, namespace: 'default' });
}

export const HISTORIES_DIR = path.resolve(__dirname, '..', 'histories');

/** `<workflow type>-v<n>.json`: a kept replay fixture; n counts recordings of that type. */
export const HISTORY_FILE = /^([A-Za-z]+)-v(\d+)\.json$/;

/** The file name the next recording of `name` gets: one version above the newest kept one (never an existing file). */
export function nextHistoryFile(name: string, existing: readonly string[] = readdirSync(HISTORIES_DIR)): string {
  const versions = existing.flatMap((f) => {
    const m = HISTORY_FILE.exec(f);
    return m?.[1] === name ? [Number(m[2])] : [];
  });
  return `${name}-v${Math.max(0, ...versions) + 1}.json`;
}

/**
 * With REALGEN_RECORD_HISTORIES=1, saves the history of a finished workflow as a new replay fixture version
 * (`test/histories/<name>-v<n>.json`). Older versions are kept: histories of runs started by older code must still
 * replay, and test/workflows/replay.test.ts replays every kept file.
 */
export async function maybeRecordHistory(client: Client, workflowId: string, name: string): Promise<void> {
  if (process.env.REALGEN_RECORD_HISTORIES !== '1') return;
  const s = await testStack();
  // The CLI writes the history in the JSON form `historyFromJSON` reads back.
  const r = spawnSync(
    TEMPORAL_BIN,
    [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      '--output',
      'json',
      '--address',
      s.temporalAddress,
      '--namespace',
      client.options.namespace,
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`temporal workflow show failed: ${r.stderr}`);
  // 'wx': fail rather than overwrite, should two recordings race for the same version.
  writeFileSync(path.join(HISTORIES_DIR, nextHistoryFile(name)), r.stdout, { flag: 'wx' });
}
