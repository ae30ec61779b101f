/**
 * RealBench evaluation activities (docs/evaluation.md): plan → per shard generate (GPU) → score (GPU) → judge
 * (CPU) → aggregate (CPU), plus `awaitEvaluation` to join an evaluation someone else started.
 *
 * Every shard step first looks for its output object and returns at once when it exists, so a retried activity or
 * a restarted evaluation never recomputes a finished shard; within a shard, generation also skips images already
 * uploaded. Output objects are written last (after the images they reference).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { LoadedConfig } from '../../configs/load';
import { readSecret } from '../../configs/secrets';
import { judgePairLocally, type RealnessScorer } from '../../domain/arena/local-judge';
import { OpenAiJudge, type JudgeCost } from '../../infra/judges/openai-judge';
import { summarizeVerdicts, type ArenaOutcome, type PairVerdict } from '../../domain/arena/verdict';
import { digestOf } from '../../lib/canonical-json';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { OnnxDetector } from '../../infra/detectors/onnx-detector';
import { realgenFailure, isFailureType } from '../../contracts/failures';
import { encodePng } from '../../infra/image/decode';
import { BASE_PARTS, generateWithCheckpoint, loadCheckpointParts, rewritePrompt, type CheckpointParts } from '../../infra/mini/checkpoint-generator';
import type { MiniGenerator } from '../../infra/mini/generator';
import { configPath, loadGenerator as loadMiniGenerator } from '../../infra/mini/mini-world';
import type { Tokenizer } from '../../domain/mini/tokenizer';
import { loadRealBench, selectSuite, type RealBenchItem } from '../../infra/realbench/realbench';
import { scoreDetectors, type DetectorScoreItem } from '../../domain/realbench/detector-scoring';
import { barChartPng, lineChartPng } from '../../infra/report/charts';
import { renderImageGrid } from '../../infra/report/image-grid';
import { renderHtml, renderMarkdown } from '../../domain/report/render-report';
import {
  LEADERBOARD_ENTRY_SCHEMA,
  REPORT_SCHEMA,
  type EvaluationReport,
  type HistoryPoint,
  type LeaderboardEntry,
  type ReportChart,
  type ReportSource,
} from '../../domain/report/report-model';
import { heartbeat } from '../heartbeat';
import {
  IMAGES_INDEX,
  getJson,
  listKeys,
  listLeaderboardEntries,
  mustGetBytes,
  putBytes,
  putJson,
  reportKeys,
  sha256Hex,
  shardKeys,
  shardsPrefixOf,
  type ImagesIndex,
} from './layout';
import { realBenchDir } from './realbench-source';
import type { AggregateInput, EvalSpec, EvaluationPlan, EvaluationResult, ShardInput, ShardStepResult } from '../../contracts/evaluation';

export interface EvaluationActivityDeps {
  store: CheckpointStore;
  /** Scratch folder (checkpoint downloads, command outputs, a RealBench mirror). */
  workDir: string;
  /** Loads the realgen-mini generator of a config. @default infra/mini/mini-world loadGenerator */
  loadGenerator?: (loaded: LoadedConfig) => Promise<{ generator: MiniGenerator; tokenizer: Tokenizer }>;
  /** Loads a detector from its manifest file. @default OnnxDetector.load */
  loadDetector?: (manifestFile: string) => Promise<OnnxDetector>;
  /** Called with the number of images each generator call produced (tests count recomputation with it). */
  onGeneratorCall?: (n: number) => void;
  /** Images per generator batch. @default 8 */
  generateBatch?: number;
  /** Temporal client for `awaitEvaluation` (built lazily by the worker). */
  client?: Client | (() => Promise<Client>);
  /** Seconds between polls in `awaitEvaluation`. @default 5 */
  awaitPollSeconds?: number;
  /** `fetch` for the OpenAI-compatible judge (tests). */
  fetchImpl?: typeof fetch;
}

/** plan.json: the plan plus every item's text. */
interface StoredPlan extends EvaluationPlan {
  evalKey: string;
  suite: string;
  items: Array<Pick<RealBenchItem, 'id' | 'index' | 'file' | 'category' | 'prompt' | 'longPrompt'>>;
}

interface GeneratedShard {
  shard: number;
  items: Array<{ id: string; category: string; key: string; usedPrompt: string }>;
}

interface ScoredShard {
  shard: number;
  items: DetectorScoreItem[];
  errors: Record<string, Record<string, string>>;
}

type JudgedItem = { id: string; category: string } & ({ verdict: PairVerdict; detail?: unknown } | { error: string });

interface JudgedShard {
  shard: number;
  judge: string;
  items: JudgedItem[];
  cost?: JudgeCost;
}

const IMAGE_EXTS = ['png', 'jpg', 'jpeg', 'webp'] as const;
const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp' };

/** The activity's cancellation signal, or undefined outside an activity. */
function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

function throwIfCancelled(): void {
  const signal = cancellation();
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('activity cancelled');
}

function loadedOf(spec: EvalSpec): LoadedConfig {
  return { config: spec.config, baseDir: spec.configBaseDir, digest: spec.configDigest, file: path.join(spec.configBaseDir, '(run config)') };
}

async function fileDigest(file: string): Promise<string> {
  try {
    return sha256Hex(await readFile(file));
  } catch (err) {
    throw realgenFailure('ConfigInvalid', `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function judgeLabel(spec: EvalSpec): string {
  const j = spec.config.evaluation.judge;
  return j.backend === 'local' ? `local:${j.detector}` : `openai:${j.model}`;
}

function reportSource(spec: EvalSpec): ReportSource {
  const s = spec.source;
  if (s.kind === 'mini-checkpoint') {
    return { kind: 'mini-checkpoint', checkpoint: s.ref === null ? null : { runId: s.ref.runId, stage: s.ref.stage, step: s.ref.step, prefix: s.ref.prefix, manifestSha256: s.ref.manifestSha256 } };
  }
  if (s.kind === 'images') return { kind: 'images', s3Prefix: s.s3Prefix };
  return { kind: 'command', command: [s.command, ...s.args].join(' ') };
}

/** Runs `fn` once per key and shares the promise (a failed load is forgotten so a retry can try again). */
function memo<T>(): (key: string, fn: () => Promise<T>) => Promise<T> {
  const cache = new Map<string, Promise<T>>();
  return (key, fn) => {
    let p = cache.get(key);
    if (p === undefined) {
      p = fn();
      cache.set(key, p);
      p.catch(() => cache.delete(key));
    }
    return p;
  };
}

function substitute(arg: string, values: Record<string, string>): string {
  return arg.replace(/\{(prompts|promptsJsonl|outDir|seed)\}/g, (_, k: string) => values[k] ?? '');
}

export function createEvaluationActivities(deps: EvaluationActivityDeps) {
  const { store } = deps;
  const generators = memo<{ generator: MiniGenerator; tokenizer: Tokenizer }>();
  const detectors = memo<OnnxDetector>();
  const checkpoints = memo<CheckpointParts>();
  const benches = memo<string>();
  const batchSize = deps.generateBatch ?? 8;
  const loadDetector = deps.loadDetector ?? ((file: string) => OnnxDetector.load(file));

  const detectorOf = (spec: EvalSpec, manifest: string) => {
    const file = configPath(loadedOf(spec), manifest);
    return detectors(file, () => loadDetector(file));
  };
  const benchDir = (spec: EvalSpec) => {
    const s = spec.config.realbench.source;
    return benches(`${spec.configBaseDir}|${s.dir ?? ''}|${s.s3Prefix ?? ''}`, () => realBenchDir(store, spec.config, spec.configBaseDir, deps.workDir, (n) => heartbeat({ realbenchFiles: n })));
  };
  const partsOf = (spec: EvalSpec): Promise<CheckpointParts> => {
    const src = spec.source;
    if (src.kind !== 'mini-checkpoint' || src.ref === null) return Promise.resolve(BASE_PARTS);
    const ref = src.ref;
    return checkpoints(ref.manifestSha256, async () => {
      const dir = path.join(deps.workDir, 'eval-checkpoints', ref.manifestSha256.slice(0, 16));
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await store.downloadCheckpoint(ref, dir);
      return await loadCheckpointParts(dir);
    });
  };
  const readPlan = async (input: ShardInput): Promise<StoredPlan> => {
    const plan = await getJson<StoredPlan>(store, input.plan.planKey);
    if (plan === null) throw realgenFailure('DatasetMissing', `evaluation plan ${input.plan.planKey} is missing`);
    if (plan.evalDigest !== input.plan.evalDigest) throw realgenFailure('ConfigInvalid', `${input.plan.planKey} belongs to evaluation digest ${plan.evalDigest}, expected ${input.plan.evalDigest}`);
    return plan;
  };
  const shardItems = (plan: StoredPlan, shard: number) => {
    const s = plan.shards.find((x) => x.index === shard);
    if (s === undefined) throw realgenFailure('ConfigInvalid', `plan ${plan.planKey} has no shard ${shard}`);
    const byId = new Map(plan.items.map((it) => [it.id, it]));
    return s.ids.map((id) => {
      const it = byId.get(id);
      if (it === undefined) throw realgenFailure('ConfigInvalid', `plan ${plan.planKey} lists ${id} in shard ${shard} but not in its items`);
      return it;
    });
  };
  const readGenerated = async (input: ShardInput): Promise<GeneratedShard> => {
    const key = shardKeys(input.plan.shardsPrefix, input.shard).generated;
    const g = await getJson<GeneratedShard>(store, key);
    if (g === null) throw realgenFailure('DatasetMissing', `shard ${input.shard} has not been generated (${key} missing)`);
    return g;
  };

  /** Mini generator: generate what is not uploaded yet, batch by batch. */
  async function generateMini(input: ShardInput, items: StoredPlan['items'], imagesPrefix: string): Promise<GeneratedShard['items']> {
    const { spec } = input;
    const existing = new Set((await listKeys(store, imagesPrefix)).map((k) => k.slice(imagesPrefix.length)));
    const parts = await partsOf(spec);
    const todo = items.filter((it) => !existing.has(`${it.id}.png`));
    if (todo.length > 0) {
      const loaded = loadedOf(spec);
      const { generator, tokenizer } = await generators(`${configPath(loaded, spec.config.models.generator)}|${spec.config.models.tokenizer ?? ''}`, () => (deps.loadGenerator ?? loadMiniGenerator)(loaded));
      let done = items.length - todo.length;
      for (let start = 0; start < todo.length; start += batchSize) {
        throwIfCancelled();
        const batch = todo.slice(start, start + batchSize);
        const images = await generateWithCheckpoint(generator, tokenizer, parts, batch.map((it) => ({ id: it.id, prompt: it.prompt, category: it.category })), { seed: spec.config.seed });
        deps.onGeneratorCall?.(images.length);
        for (const img of images) await putBytes(store, `${imagesPrefix}${img.id}.png`, await encodePng(img.image), 'image/png');
        done += images.length;
        heartbeat({ shard: input.shard, generated: done, of: items.length });
      }
    }
    return items.map((it) => ({ id: it.id, category: it.category, key: `${imagesPrefix}${it.id}.png`, usedPrompt: rewritePrompt(parts, it.prompt, it.category) }));
  }

  /** Uploaded folder: reference the content-addressed blobs; every item must be there. */
  async function generateFromUpload(input: ShardInput, items: StoredPlan['items'], s3Prefix: string): Promise<GeneratedShard['items']> {
    const prefix = s3Prefix.endsWith('/') ? s3Prefix : `${s3Prefix}/`;
    const index = await getJson<ImagesIndex>(store, `${prefix}${IMAGES_INDEX}`);
    if (index === null) throw realgenFailure('DatasetMissing', `no ${IMAGES_INDEX} under ${prefix}; upload the folder with realgen eval --images`);
    const missing = items.filter((it) => index.files[it.id] === undefined).map((it) => it.id);
    if (missing.length > 0) throw realgenFailure('DatasetMissing', `uploaded images ${prefix} lack ${missing.length} item(s) of shard ${input.shard}: ${missing.join(', ')}`, { missing });
    return items.map((it) => ({ id: it.id, category: it.category, key: index.files[it.id]?.key ?? '', usedPrompt: it.prompt }));
  }

  /** External command: write the prompt files, run it with heartbeats, upload what it wrote. */
  async function generateWithCommand(input: ShardInput, items: StoredPlan['items'], imagesPrefix: string): Promise<GeneratedShard['items']> {
    const src = input.spec.source;
    if (src.kind !== 'command') throw new Error('unreachable');
    const uploaded = new Map<string, string>();
    for (const key of await listKeys(store, imagesPrefix)) {
      const m = /^(\d{5})\.(png|jpg|jpeg|webp)$/.exec(key.slice(imagesPrefix.length));
      if (m?.[1]) uploaded.set(m[1], key);
    }
    const todo = items.filter((it) => !uploaded.has(it.id));
    if (todo.length > 0) {
      await mkdir(deps.workDir, { recursive: true });
      const dir = await mkdtemp(path.join(deps.workDir, `eval-cmd-${input.shard}-`));
      try {
        const outDir = path.join(dir, 'out');
        await mkdir(outDir);
        const prompts = path.join(dir, 'prompts.txt');
        const promptsJsonl = path.join(dir, 'prompts.jsonl');
        await writeFile(prompts, `${todo.map((it) => it.prompt.replace(/[\r\n]+/g, ' ')).join('\n')}\n`);
        await writeFile(promptsJsonl, `${todo.map((it) => JSON.stringify({ id: it.id, index: it.index, category: it.category, prompt: it.prompt, longPrompt: it.longPrompt })).join('\n')}\n`);
        const values = { prompts, promptsJsonl, outDir, seed: String(input.spec.config.seed) };
        await runCommand(src.command, src.args.map((a) => substitute(a, values)), dir, input.shard);
        deps.onGeneratorCall?.(todo.length);
        const written = new Set(await readdir(outDir));
        const missing: string[] = [];
        for (const it of todo) {
          const ext = IMAGE_EXTS.find((e) => written.has(`${it.id}.${e}`));
          if (ext === undefined) {
            missing.push(it.id);
            continue;
          }
          const key = `${imagesPrefix}${it.id}.${ext}`;
          await putBytes(store, key, await readFile(path.join(outDir, `${it.id}.${ext}`)), CONTENT_TYPES[ext] ?? 'application/octet-stream');
          uploaded.set(it.id, key);
        }
        if (missing.length > 0) throw new Error(`generator command wrote no image for ${missing.length} item(s): ${missing.join(', ')} (expected <outDir>/<id>.png|jpg|webp)`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    return items.map((it) => ({ id: it.id, category: it.category, key: uploaded.get(it.id) ?? '', usedPrompt: it.prompt }));
  }

  async function runCommand(command: string, args: string[], cwd: string, shard: number): Promise<void> {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const signal = cancellation();
    const kill = () => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    };
    signal?.addEventListener('abort', kill, { once: true });
    const started = Date.now();
    const beat = setInterval(() => heartbeat({ shard, command: 'running', seconds: Math.round((Date.now() - started) / 1000) }), 5000);
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c) => resolve(c));
      });
      throwIfCancelled();
      if (code !== 0) throw new Error(`generator command exited with ${code}: ${tail.trim().slice(-1500)}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw realgenFailure('ConfigInvalid', `generator command ${command} not found`);
      throw err;
    } finally {
      clearInterval(beat);
      signal?.removeEventListener('abort', kill);
    }
  }

  return {
    /**
     * Shards the suite (config `realbench.shardSize`) and writes `plan.json`. Idempotent: an existing plan with the
     * same evaluation digest is returned as is.
     */
    async planEvaluation(spec: EvalSpec): Promise<EvaluationPlan> {
      const dir = await benchDir(spec);
      const bench = await loadRealBench(dir);
      const items = selectSuite(bench.items, spec.suite);
      if (items.length === 0) throw realgenFailure('DatasetMissing', `RealBench suite ${spec.suite} has no items in ${dir}`);
      const loaded = loadedOf(spec);
      const src = spec.source;
      const sourceIdentity =
        src.kind === 'mini-checkpoint'
          ? { kind: src.kind, checkpoint: src.ref?.manifestSha256 ?? null, generator: await fileDigest(configPath(loaded, spec.config.models.generator)) }
          : src.kind === 'images'
            ? { kind: src.kind, s3Prefix: src.s3Prefix }
            : { kind: src.kind, command: src.command, args: src.args };
      const judge = spec.config.evaluation.judge;
      const evalDigest = digestOf({
        v: 1,
        source: sourceIdentity,
        suite: spec.suite,
        realbench: bench.digest,
        seed: spec.config.seed,
        shardSize: spec.config.realbench.shardSize,
        detectors: await Promise.all(spec.config.evaluation.detectors.map(async (d) => ({ name: d.name, heldout: d.heldout, manifest: await fileDigest(configPath(loaded, d.manifest)) }))),
        judge: judge.backend === 'local' ? { backend: 'local', detector: judge.detector } : { backend: 'openai', baseUrl: judge.baseUrl, model: judge.model },
      });
      const shardsPrefix = shardsPrefixOf(spec.evalKey, evalDigest);
      const planKey = `${shardsPrefix}plan.json`;
      const size = spec.config.realbench.shardSize;
      const shards = Array.from({ length: Math.ceil(items.length / size) }, (_, i) => ({ index: i, ids: items.slice(i * size, (i + 1) * size).map((it) => it.id) }));
      const plan: EvaluationPlan = { evalDigest, shardsPrefix, planKey, shards, images: items.length, realbenchDigest: bench.digest };
      const existing = await getJson<StoredPlan>(store, planKey);
      if (existing !== null && existing.evalDigest === evalDigest) {
        return { evalDigest, shardsPrefix, planKey, shards: existing.shards, images: existing.images, realbenchDigest: existing.realbenchDigest };
      }
      const stored: StoredPlan = {
        ...plan,
        evalKey: spec.evalKey,
        suite: spec.suite,
        items: items.map(({ id, index, file, category, prompt, longPrompt }) => ({ id, index, file, category, prompt, longPrompt })),
      };
      await putJson(store, planKey, stored);
      return plan;
    },

    /** Produces the shard's images (mini checkpoint, uploaded folder or external command) and writes generated.json. */
    async generateShard(input: ShardInput): Promise<ShardStepResult> {
      const keys = shardKeys(input.plan.shardsPrefix, input.shard);
      const done = await getJson<GeneratedShard>(store, keys.generated);
      if (done !== null) return { shard: input.shard, key: keys.generated, skipped: true, images: done.items.length };
      const plan = await readPlan(input);
      const items = shardItems(plan, input.shard);
      const src = input.spec.source;
      const generated =
        src.kind === 'mini-checkpoint'
          ? await generateMini(input, items, keys.images)
          : src.kind === 'images'
            ? await generateFromUpload(input, items, src.s3Prefix)
            : await generateWithCommand(input, items, keys.images);
      await putJson(store, keys.generated, { shard: input.shard, items: generated } satisfies GeneratedShard);
      return { shard: input.shard, key: keys.generated, skipped: false, images: generated.length };
    },

    /** Scores the shard's images with every evaluation detector (the held-out one included); writes scores.json. */
    async scoreShard(input: ShardInput): Promise<ShardStepResult> {
      const keys = shardKeys(input.plan.shardsPrefix, input.shard);
      const done = await getJson<ScoredShard>(store, keys.scores);
      if (done !== null) return { shard: input.shard, key: keys.scores, skipped: true, images: done.items.length };
      const generated = await readGenerated(input);
      const images = await Promise.all(generated.items.map((it) => mustGetBytes(store, it.key, 'generated image')));
      const items: DetectorScoreItem[] = generated.items.map((it) => ({ id: it.id, category: it.category, scores: {} }));
      const errors: ScoredShard['errors'] = {};
      for (const d of input.spec.config.evaluation.detectors) {
        throwIfCancelled();
        const detector = await detectorOf(input.spec, d.manifest);
        const results = await detector.scoreEncoded(images);
        results.forEach((r, i) => {
          const item = items[i];
          if (item === undefined) return;
          item.scores[d.name] = r.ok ? r.pReal : null;
          if (!r.ok) (errors[item.id] ??= {})[d.name] = r.error;
        });
        heartbeat({ shard: input.shard, scored: d.name });
      }
      await putJson(store, keys.scores, { shard: input.shard, items, errors } satisfies ScoredShard);
      return { shard: input.shard, key: keys.scores, skipped: false, images: items.length };
    },

    /**
     * Arena-judges each generated image against its real photo in both orders: the local judge prefers the higher
     * held-out-detector P(real); the OpenAI-compatible judge asks the model (API key resolved here, never passed in).
     */
    async judgeShard(input: ShardInput): Promise<ShardStepResult> {
      const keys = shardKeys(input.plan.shardsPrefix, input.shard);
      const done = await getJson<JudgedShard>(store, keys.judgements);
      if (done !== null) return { shard: input.shard, key: keys.judgements, skipped: true, images: done.items.length };
      const { spec } = input;
      const generated = await readGenerated(input);
      const plan = await readPlan(input);
      const byId = new Map(plan.items.map((it) => [it.id, it]));
      const dir = await benchDir(spec);
      const pairs = await Promise.all(
        generated.items.map(async (it) => ({
          id: it.id,
          category: it.category,
          caption: byId.get(it.id)?.prompt ?? '',
          generated: await mustGetBytes(store, it.key, 'generated image'),
          real: await readFile(path.join(dir, byId.get(it.id)?.file ?? `images/${it.id}.jpg`)),
        })),
      );
      const judge = spec.config.evaluation.judge;
      const items: JudgedItem[] = [];
      let cost: JudgeCost | undefined;
      if (judge.backend === 'local') {
        const ref = spec.config.evaluation.detectors.find((d) => d.name === judge.detector);
        if (ref === undefined) throw realgenFailure('ConfigInvalid', `evaluation.judge.detector ${judge.detector} is not an evaluation detector`);
        const detector = await detectorOf(spec, ref.manifest);
        const scorer: RealnessScorer = async (imgs) =>
          (await detector.scoreEncoded(imgs)).map((r) => {
            if (!r.ok) throw new Error(r.error);
            return r.pReal;
          });
        for (const [i, p] of pairs.entries()) {
          throwIfCancelled();
          const r = await judgePairLocally({ generated: p.generated, real: p.real }, scorer);
          if ('error' in r) items.push({ id: p.id, category: p.category, error: r.error });
          else items.push({ id: p.id, category: p.category, verdict: { outcome: r.outcome, score: r.score, consistent: r.consistent, unparseable: r.unparseable }, detail: r.scores });
          heartbeat({ shard: input.shard, judged: i + 1, of: pairs.length });
        }
      } else {
        const apiKey = readSecret(judge.apiKey, spec.configBaseDir, 'evaluation.judge.apiKey');
        const llm = new OpenAiJudge({
          baseUrl: judge.baseUrl,
          model: judge.model,
          apiKey,
          concurrency: judge.concurrency,
          timeoutMs: Math.round(judge.timeoutSeconds * 1000),
          maxRetries: judge.maxRetries,
          seed: spec.config.seed,
          ...(deps.fetchImpl ? { fetchImpl: deps.fetchImpl } : {}),
        });
        const chunk = Math.max(1, judge.concurrency * 2);
        for (let start = 0; start < pairs.length; start += chunk) {
          const slice = pairs.slice(start, start + chunk);
          const results = await llm.judgePairs(slice.map((p) => ({ generated: p.generated, real: p.real, caption: p.caption })), cancellation());
          results.forEach((r, i) => {
            const p = slice[i];
            if (p === undefined) return;
            if ('error' in r) items.push({ id: p.id, category: p.category, error: r.error });
            else items.push({ id: p.id, category: p.category, verdict: { outcome: r.outcome, score: r.score, consistent: r.consistent, unparseable: r.unparseable }, detail: { answers: r.answers } });
          });
          heartbeat({ shard: input.shard, judged: Math.min(pairs.length, start + chunk), of: pairs.length });
        }
        cost = llm.cost;
      }
      await putJson(store, keys.judgements, { shard: input.shard, judge: judgeLabel(spec), items, ...(cost ? { cost } : {}) } satisfies JudgedShard);
      return { shard: input.shard, key: keys.judgements, skipped: false, images: items.length };
    },

    /**
     * Detector-Scoring (per detector and category, 95% bootstrap CIs), arena win rate vs real (Wilson CI) and
     * position consistency; writes report.json/.md/.html, charts, a generated-vs-real grid and the leaderboard entry.
     */
    async aggregateEvaluation(input: AggregateInput): Promise<EvaluationResult> {
      const { spec, plan } = input;
      const shardInput = (shard: number): ShardInput => ({ spec, plan, shard });
      const stored = await readPlan(shardInput(0));
      const scored: DetectorScoreItem[] = [];
      const judged: JudgedItem[] = [];
      const generated: GeneratedShard['items'] = [];
      const cost: JudgeCost = { requests: 0, retries: 0, parseRetries: 0, promptTokens: 0, completionTokens: 0 };
      let anyCost = false;
      for (const s of plan.shards) {
        const keys = shardKeys(plan.shardsPrefix, s.index);
        const [g, sc, j] = await Promise.all([getJson<GeneratedShard>(store, keys.generated), getJson<ScoredShard>(store, keys.scores), getJson<JudgedShard>(store, keys.judgements)]);
        if (g === null || sc === null || j === null) throw realgenFailure('DatasetMissing', `shard ${s.index} of ${spec.evalKey} is incomplete (generated/scores/judgements)`);
        generated.push(...g.items);
        scored.push(...sc.items);
        judged.push(...j.items);
        if (j.cost) {
          anyCost = true;
          for (const k of Object.keys(cost) as Array<keyof JudgeCost>) cost[k] += j.cost[k];
        }
      }
      heartbeat({ aggregating: spec.evalKey });
      const categories = [...new Set(stored.items.map((it) => it.category))].sort();
      const detectorScoring = scoreDetectors(scored, { seed: spec.config.seed, categories });
      const verdicts = judged.flatMap((j) => ('verdict' in j ? [{ ...j.verdict, category: j.category }] : []));
      const overall = summarizeVerdicts(verdicts);
      const byCategory = Object.fromEntries(categories.map((c) => [c, summarizeVerdicts(verdicts.filter((v) => v.category === c))]));
      const detectorNames = spec.config.evaluation.detectors.map((d) => d.name);
      const headline = {
        detectorScoring: Object.fromEntries(detectorNames.map((n) => [n, detectorScoring[n]?.overall.score ?? null])),
        arenaWinRate: overall.winRate,
        arenaCi: overall.interval ? ([overall.interval.lower, overall.interval.upper] as [number, number]) : null,
        positionConsistency: overall.positionConsistency,
        images: generated.length,
      };
      const rk = reportKeys(spec.evalKey);
      const source = reportSource(spec);

      // History of this run and stage (mini checkpoints): earlier leaderboard entries plus this one.
      const history: HistoryPoint[] = [];
      if (source.kind === 'mini-checkpoint' && source.checkpoint !== null) {
        const ck = source.checkpoint;
        const earlier = (await listLeaderboardEntries(store)).filter(
          (e) => e.evalKey !== spec.evalKey && e.suite === spec.suite && e.source.kind === 'mini-checkpoint' && e.source.checkpoint?.runId === ck.runId && e.source.checkpoint.stage === ck.stage,
        );
        for (const e of earlier) {
          if (e.source.kind === 'mini-checkpoint' && e.source.checkpoint) history.push({ evalKey: e.evalKey, step: e.source.checkpoint.step, stage: e.source.checkpoint.stage, detectorScoring: e.detectorScoring, arenaWinRate: e.arenaWinRate });
        }
        history.push({ evalKey: spec.evalKey, step: ck.step, stage: ck.stage, detectorScoring: headline.detectorScoring, arenaWinRate: headline.arenaWinRate });
        history.sort((a, b) => a.step - b.step);
      }

      const charts: ReportChart[] = [];
      const chartPngs: Record<string, Buffer> = {};
      const addChart = async (chart: Omit<ReportChart, 'key'>, png: Promise<Buffer>) => {
        const key = rk.chart(chart.name);
        chartPngs[chart.name] = await png;
        await putBytes(store, key, chartPngs[chart.name] as Buffer, 'image/png');
        charts.push({ ...chart, key });
      };
      await addChart(
        { name: 'detector-scoring', title: 'Detector-Scoring per category (mean P(real) × 100, 95% CI)', series: detectorNames, groups: categories },
        barChartPng({
          groups: categories,
          series: detectorNames.map((n) => ({ name: n, values: categories.map((c) => detectorScoring[n]?.byCategory[c]?.score ?? null), ci: categories.map((c) => detectorScoring[n]?.byCategory[c]?.scoreCi ?? null) })),
          yMax: 100,
          yTicks: [0, 25, 50, 75, 100],
          refLine: 50,
          xTitle: 'category',
          yTitle: 'mean P(real) × 100',
        }),
      );
      await addChart(
        { name: 'arena', title: 'Arena win rate vs real per category (%, 95% Wilson CI; 50 = indistinguishable)', series: ['win rate'], groups: categories },
        barChartPng({
          groups: categories,
          series: [
            {
              name: 'win rate',
              values: categories.map((c) => (byCategory[c]?.winRate ?? null) === null ? null : (byCategory[c]?.winRate ?? 0) * 100),
              ci: categories.map((c) => {
                const iv = byCategory[c]?.interval;
                return iv ? ([iv.lower * 100, iv.upper * 100] as const) : null;
              }),
            },
          ],
          yMax: 100,
          yTicks: [0, 25, 50, 75, 100],
          refLine: 50,
          xTitle: 'category',
          yTitle: 'win rate vs real (%)',
        }),
      );
      if (history.length > 0) {
        await addChart(
          { name: 'history', title: 'Score per checkpoint step (Detector-Scoring; arena win rate × 100)', series: [...detectorNames, 'arena win rate'], groups: [] },
          lineChartPng({
            series: [
              ...detectorNames.map((n) => ({ name: n, points: history.flatMap((h) => (h.detectorScoring[n] == null ? [] : [[h.step, h.detectorScoring[n] as number] as const])) })),
              { name: 'arena win rate', points: history.flatMap((h) => (h.arenaWinRate === null ? [] : [[h.step, h.arenaWinRate * 100] as const])) },
            ],
            yMax: 100,
            yTicks: [0, 25, 50, 75, 100],
            refLine: 50,
            xTitle: 'checkpoint step',
            yTitle: 'score',
          }),
        );
      }

      // Reward curve of the stage up to this checkpoint (built-in trainer checkpoints keep it in state.json).
      if (source.kind === 'mini-checkpoint' && source.checkpoint !== null) {
        const state = await getJson<{ rewardHistory?: Array<{ step: number; reward: number }> }>(store, `${source.checkpoint.prefix}state.json`).catch(() => null);
        const curve = state?.rewardHistory ?? [];
        if (curve.length > 0) {
          await addChart(
            { name: 'reward', title: `Training reward of ${source.checkpoint.stage} up to step ${source.checkpoint.step} (mean weighted reward per step)`, series: ['mean reward'], groups: [] },
            lineChartPng({
              series: [{ name: 'mean reward', points: curve.map((p) => [p.step, p.reward] as const) }],
              yMin: 0,
              yMax: Math.max(1, ...curve.map((p) => p.reward)),
              xTitle: 'training step (GRPO epoch)',
              yTitle: 'mean reward',
            }),
          );
        }
      }

      // Contact sheet: the first item of each category.
      const dir = await benchDir(spec);
      const byId = new Map(stored.items.map((it) => [it.id, it]));
      const gridItems = categories.flatMap((c) => {
        const g = generated.find((it) => it.category === c);
        return g ? [g] : [];
      });
      const gridPng = await renderImageGrid(
        await Promise.all(gridItems.map(async (g) => ({ generated: await mustGetBytes(store, g.key, 'generated image'), real: await readFile(path.join(dir, byId.get(g.id)?.file ?? '')) }))),
        { cell: 128 },
      );
      await putBytes(store, rk.grid, gridPng, 'image/png');

      const report: EvaluationReport = {
        schema: REPORT_SCHEMA,
        evalKey: spec.evalKey,
        name: spec.name,
        suite: spec.suite,
        source,
        createdAt: new Date().toISOString(),
        images: generated.length,
        realbenchDigest: plan.realbenchDigest,
        configDigest: spec.configDigest,
        evalDigest: plan.evalDigest,
        detectors: spec.config.evaluation.detectors.map((d) => ({ name: d.name, heldout: d.heldout })),
        detectorScoring,
        arena: { judge: judgeLabel(spec), overall, byCategory, errors: judged.length - verdicts.length, ...(anyCost ? { cost } : {}) },
        headline,
        charts,
        grid: { key: rk.grid, ids: gridItems.map((g) => g.id) },
        history,
        keys: { json: rk.json, md: rk.md, html: rk.html, leaderboardEntry: rk.leaderboardEntry },
      };
      const outcomes = judged.flatMap((j) => ('verdict' in j ? [{ id: j.id, outcome: j.verdict.outcome as ArenaOutcome }] : []));
      const entry: LeaderboardEntry = {
        schema: LEADERBOARD_ENTRY_SCHEMA,
        evalKey: spec.evalKey,
        name: spec.name,
        suite: spec.suite,
        source,
        createdAt: report.createdAt,
        detectorScoring: headline.detectorScoring,
        arenaWinRate: headline.arenaWinRate,
        arenaCi: headline.arenaCi,
        positionConsistency: headline.positionConsistency,
        outcomes,
      };
      await putBytes(store, rk.md, renderMarkdown(report), 'text/markdown; charset=utf-8');
      await putBytes(store, rk.html, renderHtml(report, { charts: chartPngs, grid: gridPng }), 'text/html; charset=utf-8');
      await putJson(store, rk.json, report);
      await putJson(store, rk.leaderboardEntry, entry);
      return { evalKey: spec.evalKey, name: spec.name, suite: spec.suite, reportKeys: report.keys, headline, skippedSteps: 0 };
    },

    /**
     * Waits for an evaluation workflow (started by anyone) to close and returns its result, heartbeating while it
     * runs; a failed evaluation fails this activity without retries.
     */
    async awaitEvaluation(workflowId: string): Promise<EvaluationResult> {
      if (deps.client === undefined) throw realgenFailure('ConfigInvalid', 'awaitEvaluation needs a Temporal client in its deps');
      const client = typeof deps.client === 'function' ? await deps.client() : deps.client;
      const handle = client.workflow.getHandle<(input: unknown) => Promise<EvaluationResult>>(workflowId);
      const pollMs = (deps.awaitPollSeconds ?? 5) * 1000;
      for (;;) {
        const { status } = await handle.describe();
        if (status.name !== 'RUNNING') break;
        heartbeat({ workflowId, status: status.name });
        try {
          await Context.current().sleep(pollMs);
        } catch (err) {
          if (cancellation()?.aborted) throw err;
          await new Promise((r) => setTimeout(r, pollMs));
        }
      }
      try {
        return await handle.result();
      } catch (err) {
        const cause = (err as { cause?: { type?: string; message?: string } }).cause;
        throw ApplicationFailure.create({
          message: `evaluation ${workflowId} did not complete: ${cause?.message ?? (err as Error).message}`,
          nonRetryable: true,
          type: isFailureType(cause?.type) ? cause.type : 'EvaluationFailed',
        });
      }
    },
  };
}

export type EvaluationActivities = ReturnType<typeof createEvaluationActivities>;
