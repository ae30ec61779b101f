/**
 * The embedded stack: a real Temporal dev server (SQLite file) and a real MinIO server, started as local
 * processes from the tools that `scripts/install-tools.sh` put into `.tools/`. Used by `realgen dev up|down|status`,
 * `npm test` and `npm run demo`.
 *
 * Idempotent: `up` reuses servers that the state file names and that answer their health checks. Before starting a
 * server, `up` checks that its ports are free and fails naming the holder. The pieces live beside this file: tools,
 * ports, health checks, search attributes, process control and the state files.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_STATE_DIR } from '../configs/dev-endpoints';
import { ensureSearchAttributes, startDevSearchAttributeArgs } from './search-attributes';
import { minioHealthy, temporalHealthy, waitUntil } from './health';
import { assertPortsFree, autoPorts, DEFAULT_PORTS, type StackPorts } from './ports';
import { isAlive, recordIdentity, stopGroup } from './processes';
import { ensureSecret, readStackState, writeStackState, type StackState } from './stack-state';
import { ensureTools, MINIO_BIN, readVersions, TEMPORAL_BIN } from './stack-binaries';

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

export interface UpOptions {
  stateDir?: string;
  ports?: Partial<StackPorts> | 'auto';
  /** Seconds to wait for each server's health. @default 90 */
  healthTimeoutSeconds?: number;
  log?: (line: string) => void;
}

/** Starts (or reuses) both servers and returns their state. */
/**
 * Task-queue priority and fairness (GPU work in `priority` order, round-robin between runs of equal priority).
 * Measured on this dev server (temporal-bin 1.9.1, one slot, 5 activities queued behind a blocker): with its default 4
 * partitions per queue priority is only per partition (orders like p2,p3,p1,p4,p5); with one partition priority keys are
 * honoured every time, and with `enableFairness` equal priorities alternate between fairness keys (a1,b1,a2,b2,a3).
 * One partition is plenty at our task rates (a few per minute).
 */
export const PRIORITY_DYNAMIC_CONFIG = [
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
  'matching.enableFairness=true',
] as const;

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

  const reuseTemporal = previous !== null && isAlive(previous.temporal.pid) && temporalHealthy(previous.temporal.address);
  const reuseMinio = previous !== null && isAlive(previous.minio.pid) && (await minioHealthy(previous.minio.endpoint));
  // Every port a server is about to bind, checked before either starts.
  await assertPortsFree({
    ...(reuseTemporal
      ? {}
      : {
          temporal: ports.temporal,
          temporalUi: ports.temporalUi,
          temporalHttp: ports.temporalHttp,
          temporalMetrics: ports.temporalMetrics,
        }),
    ...(reuseMinio ? {} : { minio: ports.minio, minioConsole: ports.minioConsole }),
  });

  // --- Temporal ---
  let temporal = previous?.temporal;
  if (temporal && reuseTemporal) {
    log(`temporal: reusing pid ${temporal.pid} at ${temporal.address}`);
  } else {
    const address = `127.0.0.1:${ports.temporal}`;
    const dbFile = path.join(stateDir, 'temporal.db');
    const logFile = path.join(stateDir, 'logs', 'temporal.log');
    const args = [
      'server',
      'start-dev',
      '--db-filename',
      dbFile,
      '--ip',
      '127.0.0.1',
      '--port',
      String(ports.temporal),
      '--ui-port',
      String(ports.temporalUi),
      '--http-port',
      String(ports.temporalHttp),
      '--metrics-port',
      String(ports.temporalMetrics),
      '--log-level',
      'warn',
      '--ui-disable-news-fetch',
      ...startDevSearchAttributeArgs(),
      ...PRIORITY_DYNAMIC_CONFIG.flatMap((kv) => ['--dynamic-config-value', kv]),
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
  if (minio && reuseMinio) {
    log(`minio: reusing pid ${minio.pid} at ${minio.endpoint}`);
  } else {
    const dataDir = path.join(stateDir, 'minio-data');
    const logFile = path.join(stateDir, 'logs', 'minio.log');
    mkdirSync(dataDir, { recursive: true });
    const fd = openSync(logFile, 'a');
    const child = spawn(
      MINIO_BIN,
      [
        'server',
        dataDir,
        '--address',
        `127.0.0.1:${ports.minio}`,
        '--console-address',
        `127.0.0.1:${ports.minioConsole}`,
        '--quiet',
      ],
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
  writeStackState(state);
  const t = temporal;
  const m = minio;
  await waitUntil(
    'minio',
    () => minioHealthy(m.endpoint),
    timeoutMs,
    m.log,
    () => isAlive(m.pid),
  );
  await waitUntil(
    'temporal',
    () => isAlive(t.pid) && temporalHealthy(t.address),
    timeoutMs,
    t.log,
    () => isAlive(t.pid),
  );
  ensureSearchAttributes(t.address);
  return state;
}

/** Stops both servers named in the state file; data stays on disk. */
export async function stackDown(stateDir = DEFAULT_STATE_DIR, log: (l: string) => void = () => undefined): Promise<void> {
  const state = readStackState(path.resolve(stateDir));
  if (state === null) {
    log('nothing to stop (no stack.json)');
    return;
  }
  for (const [name, svc] of [
    ['temporal', state.temporal],
    ['minio', state.minio],
  ] as const) {
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
      {
        name: 'temporal',
        running: false,
        healthy: false,
        pid: null,
        endpoint: '-',
        version: `temporal-bin ${versions.TEMPORAL_BIN_VERSION}`,
        dataDir: '-',
        detail: 'never started (run `realgen dev up`)',
      },
      {
        name: 'minio',
        running: false,
        healthy: false,
        pid: null,
        endpoint: '-',
        version: `minio ${versions.MINIO_VERSION}`,
        dataDir: '-',
        detail: 'never started (run `realgen dev up`)',
      },
    ];
  }
  const tAlive = isAlive(state.temporal.pid);
  const mAlive = isAlive(state.minio.pid);
  const tHealthy = tAlive && temporalHealthy(state.temporal.address);
  const mHealthy = mAlive && (await minioHealthy(state.minio.endpoint));
  return [
    {
      name: 'temporal',
      running: tAlive,
      healthy: tHealthy,
      pid: state.temporal.pid,
      endpoint: state.temporal.address,
      version: state.temporal.version,
      dataDir: state.temporal.dbFile,
      detail: `ui ${state.temporal.uiUrl}; log ${state.temporal.log}`,
    },
    {
      name: 'minio',
      running: mAlive,
      healthy: mHealthy,
      pid: state.minio.pid,
      endpoint: state.minio.endpoint,
      version: state.minio.version,
      dataDir: state.minio.dataDir,
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
