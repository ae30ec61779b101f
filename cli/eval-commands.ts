/**
 * `realgen eval`, `realgen report`, `realgen leaderboard`: RealBench evaluations through the `evaluateCheckpoint`
 * workflow, their reports, and the leaderboard across every evaluation in the bucket.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import Table from 'cli-table3';
import type { Command } from 'commander';
import { evaluationCpuActivities, evaluationGpuActivities } from '../activities/evaluation';
import {
  IMAGES_INDEX,
  blobKey,
  getJson,
  listLeaderboardEntries,
  objectExists,
  putBytes,
  putJson,
  reportKeys,
  sha256Hex,
  type ImagesIndex,
} from '../activities/evaluation/layout';
import { realBenchDir } from '../activities/evaluation/realbench-source';
import type { EvalSource, EvaluationResult } from '../contracts/evaluation';
import { applyEnvOverrides, loadConfig, type LoadedConfig } from '../configs/load';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';
import { configPath } from '../infra/mini/mini-world';
import { REALBENCH_SUITES, loadRealBench, selectSuite, type RealBenchSuite } from '../infra/realbench/realbench';
import { buildLeaderboard, type LeaderboardRow } from '../domain/report/leaderboard';
import { fmtCi, fmtRate, fmtScore } from '../domain/report/render-report';
import type { EvaluationReport, Headline } from '../domain/report/report-model';
import { openStore } from '../infra/s3/open-store';
import { imagesFolderError, imagesFolderProblems } from '../infra/image/images-folder';
import { REPO_ROOT } from '../devstack/dev-stack';
import { assertEvalName, evalBaseWorkflowId, evalCommandWorkflowId, evalImagesWorkflowId, evalKeyOfWorkflowId } from '../contracts/ids';
import type { EvaluateCheckpointInput } from '../workflows/evaluate-checkpoint';
import { evalWorkflowId } from '../contracts/ids';
import * as registeredWorkflows from '../workflows';
import { cpuActivities, createWorkerContext, gpuActivities } from '../workers/worker-context';
import { gpuSlots, workflowBundle } from '../workers/create-workers';
import { connectClient } from '../infra/temporal/temporal-client';

const DEFAULT_CONFIG = path.join(REPO_ROOT, 'configs', 'mini.yaml');
const IMAGE_FILE = /^(\d{5})\.(png|jpe?g|webp)$/i;

/**
 * A store on the config's bucket (credentials resolved here, on the operator's machine). Read paths pass
 * `create: false` and never create the bucket (infra/s3/open-store.ts).
 */
export async function storeFor(loaded: LoadedConfig, options: { create: boolean } = { create: false }): Promise<CheckpointStore> {
  return await openStore(loaded, options);
}

/**
 * Uploads a folder's `<5-digit index>.{png,jpg,webp}` images content-addressed (`blobs/sha256/<sha>.<ext>`, skipped
 * when present) and writes `uploads/images/<name>/<folder digest16>/index.json`; returns that prefix. Every item of
 * the suite must have an image, checked before anything is uploaded.
 */
export async function uploadImagesFolder(store: CheckpointStore, dir: string, name: string, requiredIds: readonly string[]): Promise<string> {
  assertEvalName(name);
  const files = (await readdir(dir)).flatMap((f) => {
    const m = IMAGE_FILE.exec(f);
    return m?.[1] && m[2] ? [{ file: f, id: m[1], ext: m[2].toLowerCase() === 'jpeg' ? 'jpg' : m[2].toLowerCase() }] : [];
  });
  const byId = new Map<string, (typeof files)[number]>();
  for (const f of files) {
    if (byId.has(f.id)) throw new Error(`${dir}: two images for ${f.id} (${byId.get(f.id)?.file}, ${f.file})`);
    byId.set(f.id, f);
  }
  const missing = requiredIds.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    throw new Error(`${dir}: no image for ${missing.length} of the suite's ${requiredIds.length} items: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''} (expected <5-digit index>.png|jpg|webp)`);
  }
  // Symlinks out of the folder and files that are not images are refused, all listed, before any upload.
  const problems = await imagesFolderProblems(dir, [...requiredIds].sort().flatMap((id) => (byId.has(id) ? [byId.get(id)!.file] : [])));
  if (problems.length > 0) throw imagesFolderError(dir, problems);
  const index: ImagesIndex = { schema: 'realgen/images-upload@1', name, digest: '', files: {} };
  for (const id of [...requiredIds].sort()) {
    const f = byId.get(id);
    if (f === undefined) continue;
    const bytes = await readFile(path.join(dir, f.file));
    const sha = sha256Hex(bytes);
    const key = blobKey(sha, f.ext);
    if (!(await objectExists(store, key))) await putBytes(store, key, bytes, f.ext === 'png' ? 'image/png' : f.ext === 'webp' ? 'image/webp' : 'image/jpeg');
    index.files[id] = { key, sha256: sha, size: bytes.length, ext: f.ext };
  }
  index.digest = sha256Hex(Object.entries(index.files).map(([id, f]) => `${id} ${f.sha256}`).join('\n'));
  const prefix = `uploads/images/${name}/${index.digest.slice(0, 16)}/`;
  await putJson(store, `${prefix}${IMAGES_INDEX}`, index);
  return prefix;
}

async function suiteIds(store: CheckpointStore, loaded: LoadedConfig, suite: RealBenchSuite): Promise<string[]> {
  const dir = await realBenchDir(store, loaded.config, loaded.baseDir, path.join(process.env.REALGEN_STATE_DIR ?? path.join(REPO_ROOT, '.realgen'), 'cache', 'cli'));
  return selectSuite((await loadRealBench(dir)).items, suite).map((it) => it.id);
}

async function evaluationBundle(): Promise<WorkflowBundleWithSourceMap> {
  // Once workflows/index.ts exports evaluateCheckpoint, embedded workers share the standard bundle.
  if (typeof (registeredWorkflows as Record<string, unknown>).evaluateCheckpoint === 'function') return await workflowBundle();
  return await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows/evaluate-checkpoint.ts'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error } });
}

/** Starts (or joins: same id ⇒ same run) an evaluation and waits for it; embedded workers run meanwhile if asked. */
export async function runEvaluation(configFile: string, workflowId: string, input: EvaluateCheckpointInput, embeddedWorkers: boolean, client: Client): Promise<EvaluationResult> {
  const loaded = loadConfig(configFile);
  const run = async () => {
    const handle = await client.workflow.start('evaluateCheckpoint', { workflowId, taskQueue: loaded.config.taskQueues.cpu, args: [input], workflowIdConflictPolicy: 'USE_EXISTING' });
    console.error(`evaluation ${workflowId} (run ${handle.firstExecutionRunId})`);
    return (await handle.result()) as EvaluationResult;
  };
  if (!embeddedWorkers) return await run();
  const ctx = await createWorkerContext(configFile);
  try {
    const deps = { store: ctx.store, workDir: ctx.workDir, client };
    const cpu = await Worker.create({
      connection: ctx.connection,
      namespace: ctx.config.temporal.namespace,
      taskQueue: ctx.config.taskQueues.cpu,
      workflowBundle: await evaluationBundle(),
      activities: { ...cpuActivities(ctx), ...evaluationCpuActivities(deps) },
      maxConcurrentActivityTaskExecutions: ctx.config.workers.cpu.maxConcurrentActivities,
      shutdownGraceTime: '10s',
    });
    const gpu = await Worker.create({
      connection: ctx.connection,
      namespace: ctx.config.temporal.namespace,
      taskQueue: ctx.config.taskQueues.gpu,
      activities: { ...gpuActivities(ctx), ...evaluationGpuActivities(deps) },
      maxConcurrentActivityTaskExecutions: gpuSlots(ctx.config),
      shutdownGraceTime: `${ctx.config.workers.gpu.shutdownGraceSeconds}s`,
    });
    return await cpu.runUntil(gpu.runUntil(run()));
  } finally {
    await ctx.connection.close();
  }
}

function headlineTable(h: Headline, detectors: ReadonlyArray<{ name: string; heldout: boolean }>): string {
  const t = new Table({ head: ['metric', 'value'] });
  t.push(['images', String(h.images)]);
  for (const d of detectors) t.push([`Detector-Scoring ${d.name}${d.heldout ? ' (held-out)' : ''}`, fmtScore(h.detectorScoring[d.name])]);
  t.push(['arena win rate vs real', `${fmtRate(h.arenaWinRate)} ${h.arenaCi ? `[${fmtRate(h.arenaCi[0])}, ${fmtRate(h.arenaCi[1])}]` : ''}`.trim()]);
  t.push(['position consistency', fmtRate(h.positionConsistency)]);
  return t.toString();
}

function printLocations(loaded: LoadedConfig, keys: { json: string; md: string; html: string }): void {
  const config = applyEnvOverrides(loaded.config);
  for (const [what, key] of Object.entries(keys)) console.log(`${what.padEnd(5)} s3://${config.storage.bucket}/${key}  (${config.storage.endpoint.replace(/\/$/, '')}/${config.storage.bucket}/${key})`);
}

interface EvalOptions {
  config: string;
  checkpoint?: string;
  base?: boolean;
  images?: string;
  command?: string;
  arg: string[];
  name?: string;
  suite?: string;
  embeddedWorkers: boolean;
  json?: boolean;
}

async function evalAction(opts: EvalOptions): Promise<void> {
  const loaded = loadConfig(opts.config);
  const suite = (opts.suite ?? loaded.config.realbench.suite) as RealBenchSuite;
  if (!(REALBENCH_SUITES as readonly string[]).includes(suite)) throw new Error(`--suite: expected one of ${REALBENCH_SUITES.join(', ')}, got ${suite}`);
  const chosen = [opts.checkpoint !== undefined, opts.base === true, opts.images !== undefined, opts.command !== undefined].filter(Boolean).length;
  if (chosen !== 1) throw new Error('choose exactly one of --checkpoint PREFIX, --base, --images DIR, --command CMD');
  // Only uploading an images folder writes from here; every other source just reads.
  const store = await storeFor(loaded, { create: opts.images !== undefined });
  let workflowId: string;
  let source: EvalSource;
  let name: string;
  if (opts.checkpoint !== undefined) {
    const prefix = opts.checkpoint.replace(/^s3:\/\/[^/]+\//, '').replace(/\/?$/, '/');
    const { manifest, sha256 } = await store.readManifest(prefix);
    const ref: CheckpointRef = { bucket: store.bucket, runId: manifest.runId, stage: manifest.stage, step: manifest.step, prefix, manifestSha256: sha256 };
    workflowId = evalWorkflowId(sha256, suite);
    source = { kind: 'mini-checkpoint', ref };
    name = opts.name ?? `${ref.runId}/${ref.stage}@${ref.step}`;
  } else if (opts.base) {
    const spec = configPath(loaded, loaded.config.models.generator);
    const json = await readFile(spec);
    const onnxName = (JSON.parse(json.toString('utf8')) as { onnx?: string }).onnx ?? '';
    const digest = sha256Hex(Buffer.concat([json, await readFile(path.resolve(path.dirname(spec), onnxName))]));
    workflowId = evalBaseWorkflowId(digest, suite);
    source = { kind: 'mini-checkpoint', ref: null };
    name = opts.name ?? 'base';
  } else {
    if (opts.name === undefined) throw new Error('--name NAME is required with --images and --command');
    name = assertEvalName(opts.name);
    if (opts.images !== undefined) {
      const s3Prefix = await uploadImagesFolder(store, path.resolve(opts.images), name, await suiteIds(store, loaded, suite));
      console.error(`uploaded ${opts.images} to s3://${store.bucket}/${s3Prefix}`);
      workflowId = evalImagesWorkflowId(name, suite);
      source = { kind: 'images', s3Prefix };
    } else {
      workflowId = evalCommandWorkflowId(name, suite);
      source = { kind: 'command', command: opts.command ?? '', args: opts.arg };
    }
  }
  const config = applyEnvOverrides(loaded.config);
  const input: EvaluateCheckpointInput = {
    evalKey: evalKeyOfWorkflowId(workflowId),
    suite,
    source,
    name,
    config,
    configBaseDir: loaded.baseDir,
    configDigest: loaded.digest,
    taskQueues: config.taskQueues,
  };
  const client = await connectClient(loaded);
  try {
    const started = Date.now();
    const result = await runEvaluation(opts.config, workflowId, input, opts.embeddedWorkers, client);
    if (opts.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    console.log(`evaluation ${result.evalKey} of ${result.name} on ${result.suite}: ${((Date.now() - started) / 1000).toFixed(1)} s${result.skippedSteps > 0 ? `, ${result.skippedSteps} shard step(s) reused` : ''}`);
    console.log(headlineTable(result.headline, config.evaluation.detectors));
    printLocations(loaded, result.reportKeys);
  } finally {
    await client.connection.close();
  }
}

function leaderboardTable(rows: readonly LeaderboardRow[]): string {
  const detectors = [...new Set(rows.flatMap((r) => Object.keys(r.detectorScoring)))].sort();
  const t = new Table({ head: ['#', 'name', ...detectors, 'arena win rate [95% CI]', 'Bradley–Terry [95% CI]'] });
  rows.forEach((r, i) =>
    t.push([
      String(i + 1),
      r.name,
      ...detectors.map((d) => fmtScore(r.detectorScoring[d])),
      `${fmtRate(r.arenaWinRate)} ${r.arenaCi ? `[${fmtRate(r.arenaCi[0])}, ${fmtRate(r.arenaCi[1])}]` : ''}`.trim(),
      r.bt ? `${r.bt.rating.toFixed(0)} ${fmtCi(r.bt.ci, 0)}` : '–',
    ]),
  );
  return t.toString();
}

export function registerEvalCommands(program: Command): void {
  program
    .command('eval')
    .description('evaluate a checkpoint, the base generator, a folder of images or a generator command on RealBench (one workflow per subject and suite)')
    .option('-c, --config <file>', 'run config', DEFAULT_CONFIG)
    .option('--checkpoint <prefix>', 'committed realgen-mini checkpoint prefix (runs/<run>/stage-<n>/checkpoints/<step>/)')
    .option('--base', 'the base realgen-mini generator (no checkpoint)')
    .option('--images <dir>', 'folder of <5-digit RealBench index>.png|jpg|webp images (uploaded by content hash first)')
    .option('--command <cmd>', 'external generator; placeholders in --arg: {prompts} {promptsJsonl} {outDir} {seed}')
    .option('--arg <value>', 'argument of --command (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--name <name>', 'leaderboard row name (required with --images / --command)')
    .option('--suite <suite>', `RealBench suite (${REALBENCH_SUITES.join(' | ')}); default: the config's`)
    .option('--no-embedded-workers', 'use already-running workers instead of starting them in this process')
    .option('--json', 'print the result as JSON')
    .action(async (opts: EvalOptions) => {
      await evalAction(opts);
    });

  program
    .command('report')
    .description('where an evaluation report is, and its headline numbers')
    .argument('<evalKey>', 'evaluation key (<subject>/<suite>, e.g. the workflow id without eval/)')
    .option('-c, --config <file>', 'run config', DEFAULT_CONFIG)
    .option('--json', 'print report.json')
    .action(async (evalKey: string, opts: { config: string; json?: boolean }) => {
      const loaded = loadConfig(opts.config);
      const store = await storeFor(loaded);
      const key = evalKey.replace(/^eval\//, '');
      const report = await getJson<EvaluationReport>(store, reportKeys(key).json);
      if (report === null) throw new Error(`no report for ${key} (s3://${store.bucket}/${reportKeys(key).json}); is the evaluation still running?`);
      if (opts.json) {
        console.log(JSON.stringify(report, null, 2));
        return;
      }
      console.log(`${report.name} on ${report.suite}, evaluated ${report.createdAt} (judge ${report.arena.judge})`);
      console.log(headlineTable(report.headline, report.detectors));
      printLocations(loaded, { json: report.keys.json, md: report.keys.md, html: report.keys.html });
    });

  program
    .command('leaderboard')
    .description('every evaluation in the bucket, ranked by a Bradley–Terry fit against the real photos (real = 1000)')
    .option('-c, --config <file>', 'run config', DEFAULT_CONFIG)
    .option('--suite <suite>', 'only evaluations of this suite (ratings across suites are not comparable)')
    .option('--bootstrap <n>', 'Bradley–Terry bootstrap resamples', '200')
    .option('--json', 'print the rows as JSON')
    .action(async (opts: { config: string; suite?: string; bootstrap: string; json?: boolean }) => {
      const loaded = loadConfig(opts.config);
      const store = await storeFor(loaded);
      const entries = await listLeaderboardEntries(store, (m) => console.error(`warning: ${m}`));
      const { rows } = buildLeaderboard(entries, { ...(opts.suite !== undefined ? { suite: opts.suite } : {}), bootstrap: Number(opts.bootstrap) });
      if (opts.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) {
        console.log('no evaluations yet (run realgen eval)');
        return;
      }
      console.log(leaderboardTable(rows));
      console.log('Bradley–Terry ratings: the real photos are a player pinned at 1000; 400 points = 10:1 odds.');
    });
}
