/**
 * Inputs and outputs of the evaluation activities. Workflows import this module as types only; everything here is
 * small plain JSON (prompts, scores and images travel as objects in MinIO, referenced by key).
 */
import type { RunConfig } from '../configs/schema';
import type { CheckpointRef } from './checkpoint-manifest';
import type { RealBenchSuite } from './realbench';

/** What is evaluated. */
export type EvalSource =
  /** A realgen-mini training checkpoint, or null for the base generator. */
  | { kind: 'mini-checkpoint'; ref: CheckpointRef | null }
  /** A folder of images already uploaded by the CLI (`<s3Prefix>index.json` maps ids to content-addressed blobs). */
  | { kind: 'images'; s3Prefix: string }
  /**
   * An external generator: `command args…` with the placeholders {prompts} (one prompt per line), {promptsJsonl}
   * (one {id, index, category, prompt, longPrompt} per line), {outDir} and {seed}; it writes `<outDir>/<id>.png|jpg|webp`.
   */
  | { kind: 'command'; command: string; args: string[] };

/** Everything an evaluation activity needs to know about the evaluation (no secrets: SecretRefs only). */
export interface EvalSpec {
  /** `<subject>/<suite>`; every object lives under `evals/<evalKey>/`. */
  evalKey: string;
  suite: RealBenchSuite;
  source: EvalSource;
  /** Leaderboard row name. */
  name: string;
  config: RunConfig;
  /** Folder the config's relative paths resolve against (on the worker's machine). */
  configBaseDir: string;
  configDigest: string;
}

/** One shard: a slice of the suite's items. */
export interface ShardPlan {
  index: number;
  ids: string[];
}

/** The plan, also stored as `<shardsPrefix>plan.json` with every item's prompt and category. */
export interface EvaluationPlan {
  evalDigest: string;
  /** `evals/<evalKey>/shards/<evalDigest 16>/`: shards of other evaluation settings never mix with these. */
  shardsPrefix: string;
  planKey: string;
  shards: ShardPlan[];
  images: number;
  realbenchDigest: string;
}

export interface ShardInput {
  spec: EvalSpec;
  plan: Pick<EvaluationPlan, 'evalDigest' | 'shardsPrefix' | 'planKey'>;
  shard: number;
}

/** What a shard step left in MinIO. `skipped`: the output object already existed, nothing was recomputed. */
export interface ShardStepResult {
  shard: number;
  key: string;
  skipped: boolean;
  images: number;
  /** Seconds this GPU step held its worker slot (absent for CPU steps and in results of older code). */
  gpuSeconds?: number;
}

export interface AggregateInput {
  spec: EvalSpec;
  plan: EvaluationPlan;
  /** GPU slot-seconds of the shard steps, shown in the report (absent from older callers). */
  gpuSeconds?: number;
}

/** The evaluation's result: where the report is, and its headline numbers. */
export interface EvaluationResult {
  evalKey: string;
  name: string;
  suite: string;
  reportKeys: { json: string; md: string; html: string; leaderboardEntry: string };
  headline: Headline;
  /** Shard steps that found their output already in MinIO (a resumed evaluation). */
  skippedSteps: number;
  /** GPU slot-seconds of the generation and scoring steps (absent in results of older code). */
  gpuSeconds?: number;
}

/** The numbers a leaderboard row and a CLI summary show. Detector scores and the win rate's CI are 0–100 / 0–1 as named. */
export interface Headline {
  /** Mean P(real) × 100 per detector (null when no image scored). */
  detectorScoring: Record<string, number | null>;
  /** Win rate against the real photos in [0, 1] (0.5 = indistinguishable); null when no pair was judged. */
  arenaWinRate: number | null;
  /** 95% Wilson interval of the win rate. */
  arenaCi: [number, number] | null;
  /** Share of pairs with both answers parsed whose two orders agreed, in [0, 1]. */
  positionConsistency: number | null;
  images: number;
}
