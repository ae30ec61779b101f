/**
 * `judgeShard`: arena-judges each generated image against its real photo in both orders, with the configured judge
 * backend (judges/), then writes judgements.json.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ShardInput, ShardStepResult } from '../../contracts/evaluation';
import { judgeLabel } from './eval-spec';
import type { EvaluationContext } from './evaluation-context';
import type { JudgeBackend } from './judges/judge-backend';
import { localJudge } from './judges/local';
import { openAiJudge } from './judges/openai';
import { getJson, mustGetBytes, putJson, shardKeys } from './layout';
import { readGenerated, readPlan, type JudgedShard } from './shard-records';

export function createJudgeShard({ store, caches, deps }: EvaluationContext) {
  /**
   * The local judge prefers the higher held-out-detector P(real); the OpenAI-compatible judge asks the model (API key
   * resolved in the backend, never passed in).
   */
  return async function judgeShard(input: ShardInput): Promise<ShardStepResult> {
    const keys = shardKeys(input.plan.shardsPrefix, input.shard);
    const done = await getJson<JudgedShard>(store, keys.judgements);
    if (done !== null) return { shard: input.shard, key: keys.judgements, skipped: true, images: done.items.length };
    const { spec } = input;
    const generated = await readGenerated(store, input);
    const plan = await readPlan(store, input);
    const byId = new Map(plan.items.map((it) => [it.id, it]));
    const dir = await caches.benchDir(spec);
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
    const backend: JudgeBackend =
      judge.backend === 'local' ? localJudge(caches, spec, judge) : openAiJudge(spec, judge, deps.fetchImpl);
    const { items, cost } = await backend(pairs, input.shard);
    await putJson(store, keys.judgements, {
      shard: input.shard,
      judge: judgeLabel(spec),
      items,
      ...(cost ? { cost } : {}),
    } satisfies JudgedShard);
    return { shard: input.shard, key: keys.judgements, skipped: false, images: items.length };
  };
}
