/**
 * `realgen eval`: a RealBench evaluation of a checkpoint, the base generator, a folder of images or a generator
 * command, through the `evaluateCheckpoint` workflow (embedded workers by default).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { sha256Hex } from '../activities/evaluation/layout';
import { realBenchDir } from '../activities/evaluation/realbench-source';
import type { LoadedConfig } from '../configs/load';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import type { EvalSource, EvaluationResult } from '../contracts/evaluation';
import {
  assertEvalName,
  evalBaseWorkflowId,
  evalCommandWorkflowId,
  evalImagesWorkflowId,
  evalKeyOfWorkflowId,
  evalWorkflowId,
} from '../contracts/ids';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';
import { configPath } from '../infra/mini/mini-world';
import { REALBENCH_SUITES, loadRealBench, selectSuite, type RealBenchSuite } from '../infra/realbench/realbench';
import { REPO_ROOT } from '../lib/repo-root';
import type { EvaluateCheckpointInput } from '../workflows/evaluate-checkpoint';
import { withContext, type CliContext } from './context';
import { uploadImagesFolder } from './images-upload';
import { addConfigOption, configFileOf } from './options';
import { headlineTable, printReportLinks } from './report-output';

async function suiteIds(store: CheckpointStore, loaded: LoadedConfig, suite: RealBenchSuite): Promise<string[]> {
  // The CLI's RealBench copy lives under the state folder, not /tmp.
  const dir = await realBenchDir(
    store,
    loaded.config,
    loaded.baseDir,
    path.join(process.env.REALGEN_STATE_DIR ?? path.join(REPO_ROOT, '.realgen'), 'cache', 'cli'),
  );
  return selectSuite((await loadRealBench(dir)).items, suite).map((it) => it.id);
}

interface EvalOptions {
  config?: string;
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

async function evalAction(ctx: CliContext, opts: EvalOptions): Promise<void> {
  const loaded = ctx.loaded;
  const suite = (opts.suite ?? loaded.config.realbench.suite) as RealBenchSuite;
  if (!(REALBENCH_SUITES as readonly string[]).includes(suite))
    throw new Error(`--suite: expected one of ${REALBENCH_SUITES.join(', ')}, got ${suite}`);
  const chosen = [
    opts.checkpoint !== undefined,
    opts.base === true,
    opts.images !== undefined,
    opts.command !== undefined,
  ].filter(Boolean).length;
  if (chosen !== 1) throw new Error('choose exactly one of --checkpoint PREFIX, --base, --images DIR, --command CMD');
  let workflowId: string;
  let source: EvalSource;
  let name: string;
  if (opts.checkpoint !== undefined) {
    const prefix = opts.checkpoint.replace(/^s3:\/\/[^/]+\//, '').replace(/\/?$/, '/');
    // Reading a checkpoint never creates the bucket (a missing one is an error saying so).
    const store = await ctx.store({ create: false });
    const { manifest, sha256 } = await store.readManifest(prefix);
    const ref: CheckpointRef = {
      bucket: store.bucket,
      runId: manifest.runId,
      stage: manifest.stage,
      step: manifest.step,
      prefix,
      manifestSha256: sha256,
    };
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
      // Uploading an images folder is the one source that writes from here.
      const store = await ctx.store({ create: true });
      const s3Prefix = await uploadImagesFolder(store, path.resolve(opts.images), name, await suiteIds(store, loaded, suite));
      console.error(`uploaded ${opts.images} to s3://${store.bucket}/${s3Prefix}`);
      workflowId = evalImagesWorkflowId(name, suite);
      source = { kind: 'images', s3Prefix };
    } else {
      workflowId = evalCommandWorkflowId(name, suite);
      source = { kind: 'command', command: opts.command ?? '', args: opts.arg };
    }
  }
  const config = ctx.config;
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
  const client = await ctx.client();
  const started = Date.now();
  const run = async (): Promise<EvaluationResult> => {
    // Same id ⇒ same evaluation: a second `eval` of the same subject joins the first.
    const handle = await client.workflow.start('evaluateCheckpoint', {
      workflowId,
      taskQueue: config.taskQueues.cpu,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    console.error(`evaluation ${workflowId} (run ${handle.firstExecutionRunId})`);
    return (await handle.result()) as EvaluationResult;
  };
  const result = opts.embeddedWorkers ? await ctx.withWorkers(['cpu', 'gpu'], run) : await run();
  if (opts.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(
    `evaluation ${result.evalKey} of ${result.name} on ${result.suite}: ${((Date.now() - started) / 1000).toFixed(1)} s` +
      (result.skippedSteps > 0 ? `, ${result.skippedSteps} shard step(s) reused` : ''),
  );
  console.log(headlineTable(result.headline, config.evaluation.detectors));
  await printReportLinks(ctx, result.reportKeys);
}

export function registerEvalCommand(program: Command): void {
  addConfigOption(
    program
      .command('eval')
      .description(
        'evaluate a checkpoint, the base generator, a folder of images or a generator command on RealBench (one workflow per subject and suite)',
      ),
  )
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
      await withContext(configFileOf(opts.config), (ctx) => evalAction(ctx, opts));
    });
}
