/**
 * What an evaluation worker loads once and shares between activities: realgen-mini generators, detectors, downloaded
 * checkpoints and the RealBench mirror. Each load runs once per key and concurrent callers share its promise; a failed
 * load is forgotten so that a retried activity tries again.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { LoadedConfig } from '../../configs/load';
import type { CheckpointRef } from '../../contracts/checkpoint-manifest';
import type { EvalSpec } from '../../contracts/evaluation';
import type { Tokenizer } from '../../domain/mini/tokenizer';
import { OnnxDetector } from '../../infra/detectors/onnx-detector';
import { BASE_PARTS, loadCheckpointParts, type CheckpointParts } from '../../infra/mini/checkpoint-generator';
import type { MiniGenerator } from '../../infra/mini/generator';
import { readTorchCheckpoint, type TorchCheckpoint } from '../../infra/mini/torch-checkpoint';
import { configPath, loadGenerator as loadMiniGenerator } from '../../infra/mini/mini-world';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { heartbeat } from '../heartbeat';
import { loadedOf } from './eval-spec';
import { realBenchDir } from './realbench-source';
import { boundCacheDir } from '../../infra/workdir/worker-temp';

/** Size bound of the downloaded-checkpoint cache of one worker. */
const EVAL_CHECKPOINT_CACHE_BYTES = 2 * 1024 ** 3;

/** A loaded realgen-mini generator with its tokenizer. */
export interface LoadedGenerator {
  generator: MiniGenerator;
  tokenizer: Tokenizer;
}

/** How the caches load things (tests replace the loaders). */
export interface EvaluationLoaders {
  store: CheckpointStore;
  /** Scratch folder (checkpoint downloads, command outputs, a RealBench mirror). */
  workDir: string;
  /** Loads the realgen-mini generator of a config. @default infra/mini/mini-world loadGenerator */
  loadGenerator?: (loaded: LoadedConfig) => Promise<LoadedGenerator>;
  /** Loads a detector from its manifest file. @default OnnxDetector.load */
  loadDetector?: (manifestFile: string) => Promise<OnnxDetector>;
}

/** Runs `fn` once per key and shares the promise (a failed load is forgotten so a retry can try again). */
export function memo<T>(): (key: string, fn: () => Promise<T>) => Promise<T> {
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

/** The per-worker caches of one set of evaluation activities. */
export interface EvaluationCaches {
  /** The spec's realgen-mini generator and tokenizer. */
  generator(spec: EvalSpec): Promise<LoadedGenerator>;
  /**
   * sha256 of the spec's generator description, ONNX graph and tokenizer: what, with the prompt and the seed,
   * determines a base-generator image (images are reused across evaluations by it).
   */
  generatorDigest(spec: EvalSpec): Promise<string>;
  /** The detector of a manifest named in the spec's config. */
  detector(spec: EvalSpec, manifest: string): Promise<OnnxDetector>;
  /** The checkpoint's policy and adapter (the base generator's parts without a checkpoint). */
  checkpointParts(spec: EvalSpec): Promise<CheckpointParts>;
  /**
   * The checkpoint when the torch trainer wrote it (null otherwise, and without a checkpoint), its folder present:
   * one that the cache bound removed since is downloaded again.
   */
  torchCheckpoint(spec: EvalSpec): Promise<TorchCheckpoint | null>;
  /** The local RealBench folder (mirrored from S3 when the config says so). */
  benchDir(spec: EvalSpec): Promise<string>;
}

export function createEvaluationCaches(deps: EvaluationLoaders): EvaluationCaches {
  const { store } = deps;
  const generators = memo<LoadedGenerator>();
  const digests = memo<string>();
  const detectors = memo<OnnxDetector>();
  const checkpoints = memo<{ parts: CheckpointParts; torch: TorchCheckpoint | null }>();
  const benches = memo<string>();
  const loadDetector = deps.loadDetector ?? ((file: string) => OnnxDetector.load(file));
  const loadGenerator = deps.loadGenerator ?? loadMiniGenerator;
  const download = async (ref: CheckpointRef, dir: string) => {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await store.downloadCheckpoint(ref, dir);
    // Evaluated checkpoints pile up in a long-lived worker: keep the newest within a size bound.
    await boundCacheDir(path.join(deps.workDir, 'eval-checkpoints'), EVAL_CHECKPOINT_CACHE_BYTES, [dir]);
  };
  /** The source checkpoint's parts (null without one), downloaded once per manifest. */
  const loadCheckpoint = (spec: EvalSpec) => {
    const src = spec.source;
    if (src.kind !== 'mini-checkpoint' || src.ref === null) return Promise.resolve(null);
    const ref = src.ref;
    return checkpoints(ref.manifestSha256, async () => {
      const dir = path.join(deps.workDir, 'eval-checkpoints', ref.manifestSha256.slice(0, 16));
      await download(ref, dir);
      return { parts: await loadCheckpointParts(dir), torch: await readTorchCheckpoint(dir) };
    });
  };
  return {
    generator(spec) {
      const loaded = loadedOf(spec);
      return generators(`${configPath(loaded, spec.config.models.generator)}|${spec.config.models.tokenizer ?? ''}`, () =>
        loadGenerator(loaded),
      );
    },
    generatorDigest(spec) {
      const loaded = loadedOf(spec);
      const genFile = configPath(loaded, spec.config.models.generator);
      const tokFile = spec.config.models.tokenizer === undefined ? null : configPath(loaded, spec.config.models.tokenizer);
      return digests(`${genFile}|${tokFile ?? ''}`, async () => {
        const hash = createHash('sha256');
        const genJson = await readFile(genFile);
        const onnx = (JSON.parse(genJson.toString('utf8')) as { onnx?: string }).onnx ?? '';
        for (const f of [genFile, path.resolve(path.dirname(genFile), onnx), ...(tokFile === null ? [] : [tokFile])])
          hash.update(await readFile(f));
        return hash.digest('hex');
      });
    },
    detector(spec, manifest) {
      const file = configPath(loadedOf(spec), manifest);
      return detectors(file, () => loadDetector(file));
    },
    async checkpointParts(spec) {
      return (await loadCheckpoint(spec))?.parts ?? BASE_PARTS;
    },
    async torchCheckpoint(spec) {
      const torch = (await loadCheckpoint(spec))?.torch ?? null;
      const ref = spec.source.kind === 'mini-checkpoint' ? spec.source.ref : null;
      if (torch === null || ref === null) return torch;
      if (existsSync(path.join(torch.dir, 'state.json'))) {
        const now = new Date();
        await utimes(torch.dir, now, now); // recency follows use (boundCacheDir)
      } else {
        await download(ref, torch.dir);
      }
      return torch;
    },
    benchDir(spec) {
      const s = spec.config.realbench.source;
      return benches(`${spec.configBaseDir}|${s.dir ?? ''}|${s.s3Prefix ?? ''}`, () =>
        realBenchDir(store, spec.config, spec.configBaseDir, deps.workDir, (n) => heartbeat({ realbenchFiles: n })),
      );
    },
  };
}
