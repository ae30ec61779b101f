/**
 * What `realgen dev up` records in its state folder: `stack.json` (pids, logs, data folders; read by `down` and
 * `status`) and `endpoints.json` (where clients connect; read by every command, see configs/dev-endpoints.ts).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_STATE_DIR, DEV_ENDPOINTS_SCHEMA, devEndpointsFile, type DevEndpoints } from '../configs/dev-endpoints';
import type { RecordedProcess } from './processes';

/** What `up` recorded about the running servers. */
export interface StackState {
  stateDir: string;
  temporal: RecordedProcess & { address: string; uiUrl: string; dbFile: string; log: string; version: string };
  minio: RecordedProcess & { endpoint: string; consoleUrl: string; dataDir: string; log: string; version: string };
  secrets: { accessKeyFile: string; secretKeyFile: string };
}

function statePath(stateDir: string): string {
  return path.join(stateDir, 'stack.json');
}

export function readStackState(stateDir = DEFAULT_STATE_DIR): StackState | null {
  try {
    return JSON.parse(readFileSync(statePath(stateDir), 'utf8')) as StackState;
  } catch {
    return null;
  }
}

/** Writes `stack.json` and `endpoints.json` of a started (or reused) stack. */
export function writeStackState(state: StackState): void {
  writeFileSync(statePath(state.stateDir), `${JSON.stringify(state, null, 2)}\n`);
  const endpoints: DevEndpoints = {
    schema: DEV_ENDPOINTS_SCHEMA,
    temporalAddress: state.temporal.address,
    temporalUiUrl: state.temporal.uiUrl,
    s3Endpoint: state.minio.endpoint,
    s3ConsoleUrl: state.minio.consoleUrl,
    accessKeyFile: state.secrets.accessKeyFile,
    secretKeyFile: state.secrets.secretKeyFile,
  };
  writeFileSync(devEndpointsFile(state.stateDir), `${JSON.stringify(endpoints, null, 2)}\n`);
}

/** Writes a secret file readable by its owner only, once; an existing one is kept. */
export function ensureSecret(file: string, make: () => string): void {
  if (existsSync(file)) return;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${make()}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}
