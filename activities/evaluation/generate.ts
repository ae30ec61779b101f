/** `generateShard`: one generation backend per evaluation source (generators/), then generated.json. */
import type { EvalSource, ShardInput, ShardStepResult } from '../../contracts/evaluation';
import type { EvaluationContext } from './evaluation-context';
import { externalCommandGenerator } from './generators/external-command';
import { miniCheckpointGenerator } from './generators/mini-checkpoint';
import type { ShardGenerator } from './generators/shard-generator';
import { uploadedImagesGenerator } from './generators/uploaded-images';
import { getJson, putJson, shardKeys } from './layout';
import { readPlan, shardItems, type GeneratedShard } from './shard-records';

export function createGenerateShard(ctx: EvaluationContext) {
  const mini = miniCheckpointGenerator(ctx);
  const generatorFor = (source: EvalSource): ShardGenerator => {
    switch (source.kind) {
      case 'mini-checkpoint':
        return mini;
      case 'images':
        return uploadedImagesGenerator(ctx, source.s3Prefix);
      case 'command':
        return externalCommandGenerator(ctx, source.command, source.args);
    }
  };

  /** Produces the shard's images (mini checkpoint, uploaded folder or external command) and writes generated.json. */
  return async function generateShard(input: ShardInput): Promise<ShardStepResult> {
    const since = Date.now();
    const held = () => (Date.now() - since) / 1000;
    const keys = shardKeys(input.plan.shardsPrefix, input.shard);
    const done = await getJson<GeneratedShard>(ctx.store, keys.generated);
    if (done !== null)
      return { shard: input.shard, key: keys.generated, skipped: true, images: done.items.length, gpuSeconds: held() };
    const plan = await readPlan(ctx.store, input);
    const items = shardItems(plan, input.shard);
    const generated = await generatorFor(input.spec.source)({ input, items, imagesPrefix: keys.images });
    await putJson(ctx.store, keys.generated, { shard: input.shard, items: generated } satisfies GeneratedShard);
    return { shard: input.shard, key: keys.generated, skipped: false, images: generated.length, gpuSeconds: held() };
  };
}
