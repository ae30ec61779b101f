/**
 * `npm run chaos`: a bounded chaos soak on a private embedded stack (loopback only). For each config (the mini preset
 * with the built-in trainer, then mini-torch with the PyTorch trainer in every stage and its reward service), a reference
 * pipeline runs undisturbed, then the same pipeline under another run id runs while seeded faults are injected:
 * SIGKILL of the GPU and CPU worker processes (some while a checkpoint uploads, some while an evaluation shard runs,
 * both phases read from describe()), Temporal and MinIO restarts, and a trainer stall (SIGSTOP of a verified trainer
 * process, so the stall watchdog fires). Then the invariants are checked and the last line is
 * `faults=<n> identical=<bool> duplicate_evals=<n> orphans=<n> leftovers_mib=<n> max_recovery_s=<n>`.
 *
 * Knobs: CHAOS_SEED (default 12), CHAOS_CONFIGS (default `mini,mini-torch`), CHAOS_MINUTES (whole soak, default 20),
 * CHAOS_VERBOSE=1 (worker log lines on stderr). Exits 1 when an invariant fails, 2 when the soak itself broke.
 *
 * It lives in bench/ because, like the benchmarks, it is a long opt-in harness (not part of `npm test`) that may use
 * every layer and the test fixtures, and it reports figures (recovery times) beside its verdict.
 */
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { parseDocument } from 'yaml';
import { stackDown, stackUp } from '../devstack/dev-stack';
import { stopGroup } from '../devstack/processes';
import type { StackState } from '../devstack/stack-state';
import { loadConfig } from '../configs/load';
import { runWorkflowId } from '../contracts/ids';
import { RUN_ID } from '../contracts/search-attributes';
import { freePort } from '../infra/net/free-port';
import { spawnProcessGroup, type ProcessGroup } from '../infra/process/process-group';
import { readProcessIdentity, verifyOwnProcess, type ProcessIdentity } from '../infra/process/process-identity';
import { CheckpointStore } from '../infra/s3/checkpoint-store';
import { createS3Client } from '../infra/s3/s3-client';
import type { EvaluationResult } from '../contracts/evaluation';

const REPO = path.resolve(__dirname, '..');
const TSX = path.join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs');
const SEED = Number(process.env.CHAOS_SEED ?? 12);
const CONFIGS = (process.env.CHAOS_CONFIGS ?? 'mini,mini-torch').split(',').filter(Boolean);
const STARTED = Date.now();
const DEADLINE = STARTED + Number(process.env.CHAOS_MINUTES ?? 20) * 60_000;
const VERBOSE = process.env.CHAOS_VERBOSE === '1';
/** Faults per config: ≥ 10 in all. */
const FAULTS_PER_CONFIG: Record<string, number> = { mini: 10, 'mini-torch': 5 };

/** mulberry32: a small seeded PRNG, so a failing soak can be rerun with the same fault times. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);

const log = (m: string) => console.log(`${new Date().toISOString().slice(11, 19)} [chaos] ${m}`);
const left = () => DEADLINE - Date.now();

/** Polls `read` until it returns a value other than undefined, or throws after `ms` naming `what`. */
async function until<T>(
  what: string,
  read: () => Promise<T | undefined> | T | undefined,
  ms = left(),
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + Math.min(ms, left());
  for (;;) {
    const v = await Promise.resolve(read()).catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Processes we start: every one is a process group whose leader's identity is recorded at spawn.

/** Every group leader this soak started (workers, reward services), for the orphan check. */
const ourGroups: ProcessIdentity[] = [];
/** Trainer process groups seen (their leaders are children of our GPU workers, verified when found). */
const trainerGroups = new Map<number, ProcessIdentity>();

interface Managed {
  name: string;
  group: ProcessGroup;
  lines: string[];
  waiters: Array<{ re: RegExp; resolve: (line: string) => void }>;
}

function startManaged(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: WriteStream,
): Promise<Managed> {
  return spawnProcessGroup(command, args, { cwd: REPO, env }).then((group) => {
    ourGroups.push(group.leader);
    const m: Managed = { name, group, lines: [], waiters: [] };
    const onLine = (line: string) => {
      logFile.write(`${name} ${group.pid} ${line}\n`);
      if (VERBOSE) console.error(`[${name} ${group.pid}] ${line.slice(0, 240)}`);
      m.lines.push(line);
      m.waiters = m.waiters.filter((w) => (w.re.test(line) ? (w.resolve(line), false) : true));
    };
    createInterface({ input: group.child.stdout }).on('line', onLine);
    createInterface({ input: group.child.stderr }).on('line', onLine);
    return m;
  });
}

/** Children of `parent` (pid), read from /proc (stat field 4 is the parent pid). */
function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === parent) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Process group id of `pid` (stat field 5), or null when it is gone. */
function pgidOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The stack and the config.

interface Soak {
  stateDir: string;
  state: StackState;
  client: Client;
  store: CheckpointStore;
  logFile: WriteStream;
  gpu: Managed | null;
  cpu: Managed | null;
  reward: Managed | null;
  rewardUrl: string | null;
  configFile: string;
  configName: string;
  /** The run faults aim at: only its workflows (pipeline, stages, evaluations) are looked at. */
  targetRunId: string;
}

function writeConfig(soak: Pick<Soak, 'stateDir' | 'state'>, name: string): string {
  const doc = parseDocument(readFileSync(path.join(REPO, 'configs', `${name}.yaml`), 'utf8'));
  doc.setIn(['temporal', 'address'], soak.state.temporal.address);
  doc.setIn(['storage', 'endpoint'], soak.state.minio.endpoint);
  doc.setIn(['storage', 'bucket'], `chaos-${name}`);
  doc.setIn(['storage', 'credentials', 'accessKeyId'], doc.createNode({ file: soak.state.secrets.accessKeyFile }));
  doc.setIn(['storage', 'credentials', 'secretAccessKey'], doc.createNode({ file: soak.state.secrets.secretKeyFile }));
  doc.setIn(['taskQueues', 'gpu'], `chaos-gpu-${name}`);
  doc.setIn(['taskQueues', 'cpu'], `chaos-cpu-${name}`);
  const abs = (p: unknown) => (typeof p === 'string' ? path.resolve(REPO, 'configs', p) : p);
  for (const key of ['generator', 'tokenizer', 'descriptors']) doc.setIn(['models', key], abs(doc.getIn(['models', key])));
  for (const list of [
    ['reward', 'detectors'],
    ['evaluation', 'detectors'],
  ]) {
    const n = (doc.getIn(list) as { items: unknown[] }).items.length;
    for (let i = 0; i < n; i++) doc.setIn([...list, i, 'manifest'], abs(doc.getIn([...list, i, 'manifest'])));
  }
  doc.setIn(['reward', 'alignment', 'manifest'], abs(doc.getIn(['reward', 'alignment', 'manifest'])));
  doc.setIn(['realbench', 'source', 'dir'], abs(doc.getIn(['realbench', 'source', 'dir'])));
  // Faults need something to hit: a checkpoint every 2 steps, and a stall watchdog short enough for a soak. The
  // reference and the chaos run share this file, so their checkpoints must still be byte-identical.
  const stages = (doc.getIn(['stages']) as { items: unknown[] }).items.length;
  for (let i = 0; i < stages; i++) {
    // The prompt-optimizer LM of torch stages 1 and 3 (mini-torch: the realgen-mini LM) is a folder relative to the preset.
    const lm = ['stages', i, 'trainer', 'lm', 'pretrained'];
    if (doc.hasIn(lm)) doc.setIn(lm, abs(doc.getIn(lm)));
    doc.setIn(['stages', i, 'saveEvery'], 2);
    // The built-in trainer reports a step every second or so; a torch trainer is silent while torch, gloo and the
    // model load (tens of seconds on a busy 2-core machine), so its stages keep the preset's watchdog.
    if (doc.getIn(['stages', i, 'trainer', 'backend']) !== 'torch') doc.setIn(['stages', i, 'stallTimeoutSeconds'], 8);
  }
  doc.setIn(['workers', 'gpu', 'shutdownGraceSeconds'], 5);
  const file = path.join(soak.stateDir, `${name}.yaml`);
  writeFileSync(file, doc.toString(), { mode: 0o600 });
  return file;
}

async function restartServer(soak: Soak, which: 'temporal' | 'minio'): Promise<void> {
  const svc = which === 'temporal' ? soak.state.temporal : soak.state.minio;
  const stopped = await stopGroup(svc);
  if (stopped.result === 'refused' || stopped.result === 'stuck') throw new Error(`stopping ${which}: ${stopped.reason}`);
  const port = (u: string) => Number(u.split(':').at(-1));
  soak.state = await stackUp({
    stateDir: soak.stateDir,
    ports: {
      temporal: port(soak.state.temporal.address),
      temporalUi: port(soak.state.temporal.uiUrl),
      temporalHttp: await freePort(),
      temporalMetrics: await freePort(),
      minio: port(soak.state.minio.endpoint),
      minioConsole: port(soak.state.minio.consoleUrl),
    },
  });
}

function workerEnv(soak: Soak): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, REALGEN_STATE_DIR: soak.stateDir, REALGEN_LOG_LEVEL: 'INFO' };
  for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG']) delete env[k];
  if (soak.rewardUrl) env.REALGEN_REWARD_URL = soak.rewardUrl;
  return env;
}

/** Workers that died without being killed by the soak (each is a finding; the soak restarts them, as a supervisor would). */
const unexpectedExits: string[] = [];

async function startWorker(soak: Soak, cls: 'gpu' | 'cpu'): Promise<Managed> {
  const m = await startManaged(
    `${cls}-worker`,
    process.execPath,
    ['--import', TSX, path.join(REPO, 'workers', `${cls}.ts`), '--config', soak.configFile],
    workerEnv(soak),
    soak.logFile,
  );
  soak[cls] = m;
  void m.group.exited.then((e) => {
    if (soak[cls] !== m) return; // killed or stopped by the soak
    unexpectedExits.push(
      `${m.name} ${m.group.pid} exited on its own (${e.signal ?? `code ${e.code}`}): ${m.lines.slice(-3).join(' | ').slice(0, 400)}`,
    );
    log(`${m.name} ${m.group.pid} exited on its own; restarting it`);
    soak[cls] = null;
    startWorker(soak, cls).catch((err: unknown) => unexpectedExits.push(`restarting ${m.name}: ${(err as Error).message}`));
  });
  return m;
}

/** Graceful stops of everything the soak runs for a config (a worker's own exit cleans its scratch folder). */
async function stopAll(soak: Soak): Promise<void> {
  const all = [soak.gpu, soak.cpu, soak.reward];
  soak.gpu = soak.cpu = soak.reward = null;
  soak.rewardUrl = null;
  for (const m of all) if (m) await m.group.stop(15_000);
}

/** Live trainer process-group leaders under our GPU worker: its direct children, verified as its children now. */
function trainerLeaders(soak: Soak): ProcessIdentity[] {
  if (!soak.gpu) return [];
  if (verifyOwnProcess(soak.gpu.group.leader).status !== 'own') return [];
  const out: ProcessIdentity[] = [];
  for (const pid of childrenOf(soak.gpu.group.pid)) {
    const id = readProcessIdentity(pid, { exe: false });
    if (!id || pgidOf(pid) !== pid) continue; // trainers lead their own group; the guardian is not a child
    trainerGroups.set(pid, id);
    out.push(id);
  }
  return out;
}

async function killWorker(soak: Soak, cls: 'gpu' | 'cpu'): Promise<void> {
  const m = soak[cls];
  if (!m) return;
  trainerLeaders(soak);
  soak[cls] = null;
  const r = m.group.signal('SIGKILL');
  if (r.result === 'refused') throw new Error(`refusing to kill ${m.name}: ${r.reason}`);
  await m.group.exited;
  await m.group.reap();
}

// ---------------------------------------------------------------------------------------------------------------
// What runs now, from describe(): every open workflow of a run, with its started activities.

interface Running {
  workflowId: string;
  /** The worker identity (`<pid>@<host>`) that holds or last held the attempt. */
  worker: string;
  activityId: string;
  type: string;
  attempt: number;
  state: 'scheduled' | 'started' | 'other';
}

async function openWorkflows(soak: Soak, runId: string | null = soak.targetRunId): Promise<string[]> {
  const ids: string[] = [];
  const query = `ExecutionStatus="Running"${runId === null ? '' : ` AND RealgenRunId="${runId}"`}`;
  for await (const wf of soak.client.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}

async function pendingActivities(soak: Soak): Promise<Running[]> {
  const out: Running[] = [];
  for (const id of await openWorkflows(soak)) {
    const desc = await soak.client.workflow
      .getHandle(id)
      .describe()
      .catch(() => null);
    for (const a of desc?.raw.pendingActivities ?? []) {
      const s = Number(a.state ?? 0);
      out.push({
        workflowId: id,
        worker: a.lastWorkerIdentity ?? '',
        activityId: a.activityId ?? '',
        type: a.activityType?.name ?? '',
        attempt: a.attempt ?? 1,
        state: s === 2 ? 'started' : s === 1 ? 'scheduled' : 'other',
      });
    }
  }
  return out;
}

const GPU_TYPES = new Set(['runTrainerSegment', 'generateShard', 'scoreShard', 'writeSmokeCheckpoint']);

/**
 * Seconds from a kill until every activity the killed worker held is retried: its next attempt started, or (the
 * restarted worker has one slot per class of work) its next attempt is scheduled while the restarted worker already
 * serves the queue, or it is done. Null when the killed worker held nothing (no attempt to retry).
 */
async function recovery(soak: Soak, killedAt: number, held: Running[], restartedPid: number): Promise<number | null> {
  if (held.length === 0) return null;
  await until(
    `retries of ${held.map((h) => `${h.type}#${h.attempt}`).join(', ')}`,
    async () => {
      const now = await pendingActivities(soak);
      const serving = now.some((x) => x.state === 'started' && x.worker.startsWith(`${restartedPid}@`));
      const open = held.filter((h) => {
        const p = now.find((x) => x.workflowId === h.workflowId && x.activityId === h.activityId);
        return p !== undefined && !(p.attempt > h.attempt && (p.state === 'started' || serving));
      });
      return open.length === 0 ? true : undefined;
    },
    120_000,
    250,
  );
  return (Date.now() - killedAt) / 1000;
}

// ---------------------------------------------------------------------------------------------------------------
// Faults.

type FaultKind =
  | 'gpu-kill'
  | 'gpu-kill-upload'
  | 'gpu-kill-eval'
  | 'cpu-kill'
  | 'cpu-kill-eval'
  | 'temporal-restart'
  | 'minio-restart'
  | 'trainer-stall';

interface FaultRecord {
  kind: FaultKind;
  config: string;
  at: string;
  detail: string;
  recoveryS: number | null;
}

function faultPlan(n: number, torch: boolean): FaultKind[] {
  const must: FaultKind[] = torch
    ? ['gpu-kill-upload', 'trainer-stall', 'gpu-kill', 'cpu-kill', 'gpu-kill-eval']
    : [
        'gpu-kill-upload',
        'gpu-kill-eval',
        'cpu-kill-eval',
        'temporal-restart',
        'minio-restart',
        'trainer-stall',
        'gpu-kill',
        'cpu-kill',
        'gpu-kill-upload',
        'gpu-kill',
      ];
  const plan = must.slice(0, n);
  // Seeded order (Fisher-Yates), then the one phase-free fault first so the run is surely under way.
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [plan[i], plan[j]] = [plan[j] as FaultKind, plan[i] as FaultKind];
  }
  return plan;
}

/** Waits for a started activity matching `pred`, polling describe(); undefined when the run closed first. */
async function whenRunning(
  soak: Soak,
  run: WorkflowHandle,
  pred: (a: Running) => boolean,
  ms: number,
): Promise<Running[] | undefined> {
  const deadline = Date.now() + Math.min(ms, left());
  while (Date.now() < deadline) {
    const desc = await run.describe().catch(() => null);
    if (desc && desc.status.name !== 'RUNNING') return undefined;
    const now = await pendingActivities(soak).catch(() => []);
    if (now.some((a) => a.state === 'started' && pred(a))) return now.filter((a) => a.state === 'started');
    await delay(100);
  }
  return undefined;
}

async function inject(soak: Soak, run: WorkflowHandle, kind: FaultKind): Promise<FaultRecord | null> {
  const rec = (detail: string, recoveryS: number | null): FaultRecord => ({
    kind,
    config: soak.configName,
    at: new Date().toISOString(),
    detail,
    recoveryS,
  });
  const killGpu = async (held: Running[], detail: string) => {
    const killedAt = Date.now();
    await killWorker(soak, 'gpu');
    const restarted = await startWorker(soak, 'gpu');
    const gpuHeld = held.filter((a) => GPU_TYPES.has(a.type));
    return rec(
      `${detail}; held ${gpuHeld.map((a) => `${a.type}#${a.attempt}`).join(', ') || 'nothing'}`,
      await recovery(soak, killedAt, gpuHeld, restarted.group.pid),
    );
  };
  const killCpu = async (held: Running[], detail: string) => {
    const killedAt = Date.now();
    await killWorker(soak, 'cpu');
    const restarted = await startWorker(soak, 'cpu');
    const cpuHeld = held.filter((a) => !GPU_TYPES.has(a.type));
    return rec(
      `${detail}; held ${cpuHeld.map((a) => `${a.type}#${a.attempt}`).join(', ') || 'nothing'}`,
      await recovery(soak, killedAt, cpuHeld, restarted.group.pid),
    );
  };
  switch (kind) {
    case 'gpu-kill': {
      const held = await whenRunning(soak, run, (a) => GPU_TYPES.has(a.type), 120_000);
      return held ? killGpu(held, 'GPU worker SIGKILL') : null;
    }
    case 'gpu-kill-upload': {
      // The supervisor logs "committing checkpoint" before the upload; killed right after that line.
      const gpu = soak.gpu!;
      const seen = gpu.lines.length;
      const line = await Promise.race([
        until('a checkpoint upload', () => gpu.lines.slice(seen).find((l) => /committing checkpoint/.test(l)), 120_000, 20),
        delay(Math.min(120_000, left())).then(() => undefined),
      ]).catch(() => undefined);
      if (!line || soak.gpu !== gpu) return null;
      const held = (await pendingActivities(soak)).filter((a) => a.state === 'started');
      return killGpu(held, `GPU worker SIGKILL during checkpoint upload (${/"step":(\d+)/.exec(line)?.[1] ?? '?'})`);
    }
    case 'gpu-kill-eval': {
      const held = await whenRunning(soak, run, (a) => a.type === 'generateShard' || a.type === 'scoreShard', 240_000);
      return held ? killGpu(held, 'GPU worker SIGKILL during an evaluation shard') : null;
    }
    case 'cpu-kill': {
      await delay(Math.floor(random() * 3000));
      const held = (await pendingActivities(soak)).filter((a) => a.state === 'started');
      return killCpu(held, 'CPU worker SIGKILL');
    }
    case 'cpu-kill-eval': {
      const held = await whenRunning(soak, run, (a) => a.workflowId.startsWith('eval/'), 240_000);
      return held ? killCpu(held, 'CPU worker SIGKILL during an evaluation') : null;
    }
    case 'temporal-restart':
    case 'minio-restart': {
      await delay(Math.floor(random() * 3000));
      const t0 = Date.now();
      await restartServer(soak, kind === 'temporal-restart' ? 'temporal' : 'minio');
      return rec(
        `${kind === 'temporal-restart' ? 'Temporal' : 'MinIO'} stopped and started (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
        null,
      );
    }
    case 'trainer-stall': {
      // A built-in trainer: its stage has the soak's short watchdog (torch stages keep the preset's long one).
      const builtin = (t: ProcessIdentity) => {
        try {
          // The program, not the whole line: a run id like chaos-mini-torch-12 is in every job file path.
          const [program = '', ...args] = readFileSync(`/proc/${t.pid}/cmdline`, 'utf8').split('\0');
          return !/python|torchrun|accelerate/.test(program) && !args.includes('realgen_torch.train');
        } catch {
          return false;
        }
      };
      // A trainer lives one segment (seconds with the built-in one): one that is gone after the seeded delay is
      // replaced by the next one seen.
      const pause = 500 + Math.floor(random() * 1000);
      const trainer = await until(
        'a built-in trainer process',
        async () => {
          const t = trainerLeaders(soak).find(builtin);
          if (!t) return undefined;
          await delay(pause);
          // Verified ours (a child of our GPU worker, same start time as when found) right before the signal.
          return verifyOwnProcess(t).status === 'own' ? t : undefined;
        },
        240_000,
        100,
      ).catch(() => undefined);
      if (!trainer) return null;
      process.kill(-trainer.pid, 'SIGSTOP');
      const gpu = soak.gpu!;
      const t0 = Date.now();
      const seen = gpu.lines.length;
      await until(
        'the stall watchdog',
        () => gpu.lines.slice(seen).find((l) => /trainer stalled|Activity failed/.test(l)),
        60_000,
        100,
      );
      return rec(`trainer ${trainer.pid} SIGSTOPped; watchdog after ${((Date.now() - t0) / 1000).toFixed(1)} s`, null);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Invariants.

async function stageFiles(store: CheckpointStore, runId: string, stage: string) {
  const latest = await store.latestValidCheckpoint(runId, stage);
  if (!latest.ref) return null;
  return { step: latest.ref.step, files: (await store.readManifest(latest.ref.prefix)).manifest.files };
}

interface EvalRow {
  workflowId: string;
  runId: string;
  stage: string;
  step: number;
  status: string;
}

async function evaluations(soak: Soak): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  for await (const wf of soak.client.workflow.list({ query: 'WorkflowType="evaluateCheckpoint"' })) {
    const memo = (wf.memo ?? {}) as { runId?: string; stage?: string; step?: number };
    rows.push({
      workflowId: wf.workflowId,
      runId: memo.runId ?? '?',
      stage: memo.stage ?? '?',
      step: memo.step ?? -1,
      status: wf.status.name,
    });
  }
  return rows;
}

interface Verdict {
  identical: boolean;
  duplicateEvals: number;
  problems: string[];
}

async function checkRun(soak: Soak, refId: string, chaosId: string): Promise<Verdict> {
  const problems: string[] = [];
  let identical = true;
  const pipelineConfig = parseDocument(readFileSync(soak.configFile, 'utf8')).toJS() as {
    stages: Array<{ stage: number; enabled?: boolean }>;
  };
  for (const s of pipelineConfig.stages.filter((x) => x.enabled !== false)) {
    const key = `stage-${s.stage}`;
    const [a, b] = [await stageFiles(soak.store, chaosId, key), await stageFiles(soak.store, refId, key)];
    const same = a !== null && b !== null && a.step === b.step && JSON.stringify(a.files) === JSON.stringify(b.files);
    if (!same) {
      identical = false;
      problems.push(
        `${soak.configName} ${key}: final checkpoint differs (chaos step ${a?.step ?? 'none'}, reference step ${b?.step ?? 'none'})`,
      );
    }
  }
  const rows = await evaluations(soak);
  let duplicateEvals = 0;
  const perId = new Map<string, number>();
  for (const r of rows) perId.set(r.workflowId, (perId.get(r.workflowId) ?? 0) + 1);
  for (const [id, n] of perId) {
    if (n > 1) {
      duplicateEvals += n - 1;
      problems.push(`${id}: ${n} executions`);
    }
  }
  const of = (runId: string) => rows.filter((r) => r.runId === runId);
  const key = (r: EvalRow) => `${r.stage}@${r.step}`;
  const chaosKeys = of(chaosId).map(key);
  const refKeys = of(refId).map(key);
  for (const k of new Set(chaosKeys)) {
    const n = chaosKeys.filter((x) => x === k).length;
    if (n > 1) {
      duplicateEvals += n - 1;
      problems.push(`${chaosId} ${k}: evaluated ${n} times`);
    }
  }
  if ([...new Set(chaosKeys)].sort().join() !== [...new Set(refKeys)].sort().join()) {
    problems.push(
      `${soak.configName}: evaluated checkpoints differ: chaos [${[...new Set(chaosKeys)].sort().join(' ')}], reference [${[...new Set(refKeys)].sort().join(' ')}]`,
    );
  }
  for (const r of of(chaosId)) {
    const twin = of(refId).find((x) => key(x) === key(r));
    if (r.status !== 'COMPLETED') problems.push(`${r.workflowId} (${key(r)}): ${r.status}`);
    if (!twin || twin.status !== 'COMPLETED' || r.status !== 'COMPLETED') continue;
    const [x, y] = [
      (await soak.client.workflow.getHandle(r.workflowId).result()) as EvaluationResult,
      (await soak.client.workflow.getHandle(twin.workflowId).result()) as EvaluationResult,
    ];
    if (JSON.stringify(x.headline) !== JSON.stringify(y.headline)) {
      problems.push(`${key(r)}: evaluation headline differs: ${JSON.stringify(x.headline)} vs ${JSON.stringify(y.headline)}`);
    }
  }
  return { identical, duplicateEvals, problems };
}

/** Processes left of any group we started, or whose command line names our private state folder. */
function orphans(stateDir: string): string[] {
  const groups = new Set([...ourGroups, ...trainerGroups.values()].map((g) => g.pid));
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const pid = Number(e);
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    const pg = pgidOf(pid);
    if ((pg !== null && groups.has(pg)) || cmd.includes(stateDir)) out.push(`${pid} ${cmd.slice(0, 160)}`);
  }
  return out;
}

function duBytes(p: string): number {
  let st;
  try {
    st = statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((n, e) => n + duBytes(path.join(p, e)), 0);
}

/** Worker scratch left under the state folder's tmp/, and /tmp entries of the soak's processes. */
function leftovers(stateDir: string): { bytes: number; paths: string[] } {
  const paths: string[] = [];
  const tmp = path.join(stateDir, 'tmp');
  if (existsSync(tmp)) for (const e of readdirSync(tmp)) paths.push(path.join(tmp, e));
  const pids = new Set([...ourGroups, ...trainerGroups.values()].map((g) => String(g.pid)));
  for (const e of readdirSync(os.tmpdir())) {
    const pid = /^(?:mat-debug-(\d+)\.log|realgen-.*?-(\d+)(?:-.*)?)$/.exec(e);
    const p = pid?.[1] ?? pid?.[2];
    if (p && pids.has(p)) paths.push(path.join(os.tmpdir(), e));
  }
  return { bytes: paths.reduce((n, p) => n + duBytes(p), 0), paths };
}

// ---------------------------------------------------------------------------------------------------------------

async function startRewardService(soak: Soak): Promise<void> {
  const listen = `127.0.0.1:${await freePort()}`;
  soak.reward = await startManaged(
    'reward',
    path.join(REPO, 'bin', 'realgen'),
    ['serve', 'reward', '--config', soak.configFile, '--listen', listen, '--max-batch', '1'],
    workerEnv(soak),
    soak.logFile,
  );
  soak.rewardUrl = `http://${listen}`;
  await until('the reward service', async () => ((await fetch(`${soak.rewardUrl}/healthz`)).ok ? true : undefined), 180_000, 500);
}

async function runPipeline(soak: Soak, runId: string): Promise<WorkflowHandle> {
  const loaded = loadConfig(soak.configFile);
  return await soak.client.workflow.start('realgenPipeline', {
    workflowId: runWorkflowId(runId),
    taskQueue: loaded.config.taskQueues.cpu,
    typedSearchAttributes: [{ key: RUN_ID, value: runId }],
    args: [{ runId, config: loaded.config, configBaseDir: loaded.baseDir, configDigest: loaded.digest, evaluateFinal: true }],
  });
}

async function soakConfig(soak: Soak, name: string, faults: FaultRecord[], verdicts: Verdict[]): Promise<void> {
  soak.configName = name;
  soak.configFile = writeConfig(soak, name);
  if (name === 'mini-torch') await startRewardService(soak);
  await startWorker(soak, 'cpu');
  await startWorker(soak, 'gpu');
  const refId = `ref-${name}-${SEED}`;
  const chaosId = `chaos-${name}-${SEED}`;
  const t0 = Date.now();
  log(`${name}: reference run ${refId}`);
  await (await runPipeline(soak, refId)).result();
  // Its evaluations are children it does not wait for: they finish undisturbed before any fault.
  await until(
    `the evaluations of ${refId}`,
    async () => ((await openWorkflows(soak, refId)).length === 0 ? true : undefined),
    left(),
    1000,
  );
  const refSeconds = (Date.now() - t0) / 1000;
  log(`${name}: reference done in ${refSeconds.toFixed(0)} s; chaos run ${chaosId}`);
  soak.targetRunId = chaosId;
  const run = await runPipeline(soak, chaosId);
  const plan = faultPlan(FAULTS_PER_CONFIG[name] ?? 5, name === 'mini-torch');
  // Seeded start offsets: the first fault after 0-4 s, each next one 0-3 s after the previous recovery.
  await delay(Math.floor(random() * 4000));
  for (const kind of plan) {
    if (left() < 60_000) break;
    const r = await inject(soak, run, kind);
    if (r) {
      faults.push(r);
      log(
        `${name}: fault ${faults.length} ${kind}: ${r.detail}${r.recoveryS === null ? '' : `; recovered in ${r.recoveryS.toFixed(1)} s`}`,
      );
    } else {
      log(`${name}: fault ${kind} found no moment to strike (run ahead of it)`);
    }
    await delay(Math.floor(random() * 3000));
  }
  await Promise.race([
    run.result(),
    delay(Math.max(0, left() - 30_000)).then(() => Promise.reject(new Error(`${chaosId} did not finish in time`))),
  ]);
  await until(
    `the evaluations of ${chaosId}`,
    async () => ((await openWorkflows(soak, chaosId)).length === 0 ? true : undefined),
    left() - 30_000,
    1000,
  );
  log(
    `${name}: chaos run finished in ${((Date.now() - t0) / 1000 - refSeconds).toFixed(0)} s (reference ${refSeconds.toFixed(0)} s)`,
  );
  verdicts.push(await checkRun(soak, refId, chaosId));
  await stopAll(soak);
}

async function main(): Promise<number> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-chaos-'));
  const logPath = path.join(stateDir, 'soak.log');
  log(`seed ${SEED}, configs ${CONFIGS.join(', ')}, state ${stateDir}`);
  const state = await stackUp({ stateDir, ports: 'auto' });
  const creds = {
    accessKey: readFileSync(state.secrets.accessKeyFile, 'utf8').trim(),
    secretKey: readFileSync(state.secrets.secretKeyFile, 'utf8').trim(),
  };
  const connection = await Connection.connect({ address: state.temporal.address });
  const soak: Soak = {
    stateDir,
    state,
    client: new Client({ connection }),
    store: null as unknown as CheckpointStore,
    logFile: createWriteStream(logPath),
    gpu: null,
    cpu: null,
    reward: null,
    rewardUrl: null,
    configFile: '',
    configName: '',
    targetRunId: '',
  };
  const faults: FaultRecord[] = [];
  const verdicts: Verdict[] = [];
  let broke: Error | null = null;
  // Ctrl-C or a timeout's SIGTERM: stop what the soak started (workers, services, the stack), then exit.
  const interrupted = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping everything the soak started`);
    void stopAll(soak)
      .then(() => stackDown(stateDir))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    for (const name of CONFIGS) {
      soak.store = new CheckpointStore({
        client: createS3Client({ endpoint: state.minio.endpoint, region: 'us-east-1', pathStyle: true, partSizeMiB: 5 }, creds),
        bucket: `chaos-${name}`,
      });
      await soakConfig(soak, name, faults, verdicts);
    }
  } catch (err) {
    broke = err as Error;
    log(`soak broke: ${broke.stack ?? broke.message}`);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await stopAll(soak);
    await connection.close().catch(() => undefined);
    await stackDown(stateDir);
  }
  // Whatever our trainers' guardians still have to reap goes within a second or two.
  const found = await until('no orphans', () => (orphans(stateDir).length === 0 ? [] : undefined), 10_000, 250).catch(() =>
    orphans(stateDir),
  );
  const junk = leftovers(stateDir);
  const recoveries = faults.flatMap((f) => (f.recoveryS === null ? [] : [f.recoveryS]));
  const maxRecovery = Math.max(0, ...recoveries);
  const problems = [...verdicts.flatMap((v) => v.problems), ...unexpectedExits];
  const identical = verdicts.length === CONFIGS.length && verdicts.every((v) => v.identical);
  const duplicates = verdicts.reduce((n, v) => n + v.duplicateEvals, 0);
  const mib = Math.ceil((junk.bytes / 2 ** 20) * 10) / 10;
  for (const p of problems) log(`problem: ${p}`);
  for (const o of found) log(`orphan: ${o}`);
  for (const p of junk.paths) log(`leftover: ${p}`);
  for (const f of faults)
    log(`fault ${f.config} ${f.kind}: ${f.detail}${f.recoveryS === null ? '' : ` (${f.recoveryS.toFixed(1)} s)`}`);
  soak.logFile.end();
  const ok =
    !broke &&
    identical &&
    duplicates === 0 &&
    found.length === 0 &&
    junk.bytes === 0 &&
    maxRecovery <= 15 &&
    faults.length >= 10 &&
    problems.length === 0;
  if (ok) rmSync(stateDir, { recursive: true, force: true });
  else log(`kept ${stateDir} (worker logs in ${logPath})`);
  log(`soak took ${((Date.now() - STARTED) / 1000).toFixed(0)} s`);
  console.log(
    `faults=${faults.length} identical=${identical} duplicate_evals=${duplicates} orphans=${found.length} leftovers_mib=${mib} max_recovery_s=${maxRecovery.toFixed(1)}`,
  );
  return broke ? 2 : ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
