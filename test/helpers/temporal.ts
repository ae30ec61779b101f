/** Temporal client and workers for integration tests, on the shared test stack. */
import { writeFileSync } from 'node:fs';
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

/**
 * With REALGEN_RECORD_HISTORIES=1, saves the history of a finished workflow as a replay fixture
 * (`test/histories/<name>.json`); committed fixtures are replayed by test/workflows/replay.test.ts.
 */
export async function maybeRecordHistory(client: Client, workflowId: string, name: string): Promise<void> {
  if (process.env.REALGEN_RECORD_HISTORIES !== '1') return;
  const s = await testStack();
  // The CLI writes the history in the JSON form `historyFromJSON` reads back.
  const r = spawnSync(TEMPORAL_BIN, ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', s.temporalAddress, '--namespace', client.options.namespace], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`temporal workflow show failed: ${r.stderr}`);
  writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), r.stdout);
}
