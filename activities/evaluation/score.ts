/** `scoreShard`: every evaluation detector over the shard's generated images, then scores.json. */
import type { ShardInput, ShardStepResult } from '../../contracts/evaluation';
import type { DetectorScoreItem } from '../../domain/realbench/detector-scoring';
import { throwIfCancelled } from '../cancellation';
import { heartbeat } from '../heartbeat';
import type { EvaluationContext } from './evaluation-context';
import { getJson, mustGetBytes, putJson, shardKeys } from './layout';
import { readGenerated, type ScoredShard } from './shard-records';

export function createScoreShard({ store, caches }: EvaluationContext) {
  /** Scores the shard's images with every evaluation detector (the held-out one included); writes scores.json. */
  return async function scoreShard(input: ShardInput): Promise<ShardStepResult> {
    const since = Date.now();
    const held = () => (Date.now() - since) / 1000;
    const keys = shardKeys(input.plan.shardsPrefix, input.shard);
    const done = await getJson<ScoredShard>(store, keys.scores);
    if (done !== null)
      return { shard: input.shard, key: keys.scores, skipped: true, images: done.items.length, gpuSeconds: held() };
    const generated = await readGenerated(store, input);
    const images = await Promise.all(generated.items.map((it) => mustGetBytes(store, it.key, 'generated image')));
    const items: DetectorScoreItem[] = generated.items.map((it) => ({ id: it.id, category: it.category, scores: {} }));
    const errors: ScoredShard['errors'] = {};
    for (const d of input.spec.config.evaluation.detectors) {
      throwIfCancelled();
      const detector = await caches.detector(input.spec, d.manifest);
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
    return { shard: input.shard, key: keys.scores, skipped: false, images: items.length, gpuSeconds: held() };
  };
}
