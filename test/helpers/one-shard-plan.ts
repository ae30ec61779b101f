/**
 * A one-shard evaluation plan stored in MinIO, for tests that run a single shard activity (generation, scoring)
 * without the planning activity: the plan object the activities read, and the shard input pointing at it.
 */
import { putJson, shardsPrefixOf } from '../../activities/evaluation/layout';
import type { LoadedConfig } from '../../configs/load';
import type { RunConfig } from '../../configs/schema';
import type { EvalSource, EvalSpec, ShardInput } from '../../contracts/evaluation';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';

/** One RealBench-like item of the plan. */
export interface PlanItem {
  id: string;
  category: string;
  prompt: string;
  longPrompt: string;
}

/** Stores the plan of `items` as shard 0 of `evalKey` (smoke suite) and returns the shard input. */
export async function storeOneShardPlan(
  store: CheckpointStore,
  loaded: Pick<LoadedConfig, 'baseDir' | 'digest'>,
  evalKey: string,
  source: EvalSource,
  config: RunConfig,
  items: readonly PlanItem[],
): Promise<ShardInput> {
  const spec: EvalSpec = {
    evalKey,
    suite: 'smoke',
    source,
    name: evalKey,
    config,
    configBaseDir: loaded.baseDir,
    configDigest: loaded.digest,
  };
  // A digest of the key's own characters: every key gets its own shards folder.
  const evalDigest = `${evalKey.replace(/[^a-z0-9]/g, '')}${'0'.repeat(64)}`.slice(0, 64);
  const shardsPrefix = shardsPrefixOf(evalKey, evalDigest);
  const planKey = `${shardsPrefix}plan.json`;
  const ids = items.map((it) => it.id);
  await putJson(store, planKey, {
    ...{ evalDigest, shardsPrefix, planKey, shards: [{ index: 0, ids }], images: ids.length },
    ...{ realbenchDigest: 'x', evalKey, suite: 'smoke' },
    items: items.map((it, index) => ({ ...it, index, file: `images/${it.id}.jpg` })),
  });
  return { spec, plan: { evalDigest, shardsPrefix, planKey }, shard: 0 };
}
