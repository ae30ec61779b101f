/**
 * The JSON objects the evaluation steps leave in the bucket (layout.ts says where): the stored plan, and per shard
 * generated.json, scores.json and judgements.json; plus the readers that check them.
 */
import { realgenFailure } from '../../contracts/failures';
import type { EvaluationPlan, ShardInput } from '../../contracts/evaluation';
import type { PairVerdict } from '../../domain/arena/verdict';
import type { DetectorScoreItem } from '../../domain/realbench/detector-scoring';
import type { JudgeCost } from '../../infra/judges/openai-judge';
import type { RealBenchItem } from '../../infra/realbench/realbench';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { getJson, shardKeys } from './layout';

/** One suite item as the plan stores it. */
export type PlanItem = Pick<RealBenchItem, 'id' | 'index' | 'file' | 'category' | 'prompt' | 'longPrompt'>;

/** plan.json: the plan plus every item's text. */
export interface StoredPlan extends EvaluationPlan {
  evalKey: string;
  suite: string;
  items: PlanItem[];
}

/** One generated image: its object key and the prompt the generator actually used. */
export interface GeneratedItem {
  id: string;
  category: string;
  key: string;
  usedPrompt: string;
}

/** generated.json (written last by generateShard). */
export interface GeneratedShard {
  shard: number;
  items: GeneratedItem[];
}

/** scores.json: P(real) per detector per image, and the errors of images a detector could not score. */
export interface ScoredShard {
  shard: number;
  items: DetectorScoreItem[];
  errors: Record<string, Record<string, string>>;
}

/** One arena pair: its verdict, or why it could not be judged. */
export type JudgedItem = { id: string; category: string } & ({ verdict: PairVerdict; detail?: unknown } | { error: string });

/** judgements.json. */
export interface JudgedShard {
  shard: number;
  judge: string;
  items: JudgedItem[];
  cost?: JudgeCost;
}

/** The stored plan of `input`, checked against its evaluation digest. */
export async function readPlan(store: CheckpointStore, input: ShardInput): Promise<StoredPlan> {
  const plan = await getJson<StoredPlan>(store, input.plan.planKey);
  if (plan === null) throw realgenFailure('DatasetMissing', `evaluation plan ${input.plan.planKey} is missing`);
  if (plan.evalDigest !== input.plan.evalDigest) {
    throw realgenFailure(
      'ConfigInvalid',
      `${input.plan.planKey} belongs to evaluation digest ${plan.evalDigest}, expected ${input.plan.evalDigest}`,
    );
  }
  return plan;
}

/** The items of one shard of the plan, in plan order. */
export function shardItems(plan: StoredPlan, shard: number): PlanItem[] {
  const s = plan.shards.find((x) => x.index === shard);
  if (s === undefined) throw realgenFailure('ConfigInvalid', `plan ${plan.planKey} has no shard ${shard}`);
  const byId = new Map(plan.items.map((it) => [it.id, it]));
  return s.ids.map((id) => {
    const it = byId.get(id);
    if (it === undefined)
      throw realgenFailure('ConfigInvalid', `plan ${plan.planKey} lists ${id} in shard ${shard} but not in its items`);
    return it;
  });
}

/** The shard's generated.json; a shard not generated yet is a non-retryable failure. */
export async function readGenerated(store: CheckpointStore, input: ShardInput): Promise<GeneratedShard> {
  const key = shardKeys(input.plan.shardsPrefix, input.shard).generated;
  const g = await getJson<GeneratedShard>(store, key);
  if (g === null) throw realgenFailure('DatasetMissing', `shard ${input.shard} has not been generated (${key} missing)`);
  return g;
}
