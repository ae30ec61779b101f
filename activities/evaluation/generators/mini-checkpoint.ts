/** Generation backend: the realgen-mini generator with a training checkpoint's policy and adapter (or none: the base). */
import { encodePng } from '../../../infra/image/decode';
import { generateWithCheckpoint, rewritePrompt } from '../../../infra/mini/checkpoint-generator';
import { throwIfCancelled } from '../../cancellation';
import { heartbeat } from '../../heartbeat';
import type { EvaluationContext } from '../evaluation-context';
import { baseImageCacheKey, getBytes, listKeys, putBytes } from '../layout';
import type { ShardGenerator } from './shard-generator';

/**
 * Generates what is not uploaded yet, batch by batch (config-independent batch size: `generateBatch`). Without a
 * velocity adapter the image is the base generator's for the (rewritten) prompt and seed, so one that an earlier
 * evaluation already drew is copied from the content-addressed cache instead of drawn again, and new ones go into it.
 */
export function miniCheckpointGenerator({ store, caches, deps }: EvaluationContext): ShardGenerator {
  const batchSize = deps.generateBatch ?? 8;
  return async ({ input, items, imagesPrefix }) => {
    const { spec } = input;
    const existing = new Set((await listKeys(store, imagesPrefix)).map((k) => k.slice(imagesPrefix.length)));
    const parts = await caches.checkpointParts(spec);
    let todo = items.filter((it) => !existing.has(`${it.id}.png`));
    const reusable = parts.adapter === null;
    const generatorDigest = reusable && todo.length > 0 ? await caches.generatorDigest(spec) : null;
    const cacheKey = (it: (typeof items)[number]) =>
      generatorDigest === null
        ? null
        : baseImageCacheKey({
            generatorDigest,
            prompt: rewritePrompt(parts, it.prompt, it.category),
            category: it.category,
            seed: spec.config.seed,
            id: it.id,
            steps: null,
          });
    let done = items.length - todo.length;
    if (generatorDigest !== null) {
      const fresh: typeof todo = [];
      for (const it of todo) {
        const cached = await getBytes(store, cacheKey(it) as string);
        if (cached === null) fresh.push(it);
        else await putBytes(store, `${imagesPrefix}${it.id}.png`, cached, 'image/png');
      }
      done += todo.length - fresh.length;
      todo = fresh;
    }
    if (todo.length > 0) {
      const { generator, tokenizer } = await caches.generator(spec);
      for (let start = 0; start < todo.length; start += batchSize) {
        throwIfCancelled();
        const batch = todo.slice(start, start + batchSize);
        const images = await generateWithCheckpoint(
          generator,
          tokenizer,
          parts,
          batch.map((it) => ({ id: it.id, prompt: it.prompt, category: it.category })),
          {
            seed: spec.config.seed,
          },
        );
        deps.onGeneratorCall?.(images.length);
        for (const [i, img] of images.entries()) {
          const png = await encodePng(img.image);
          await putBytes(store, `${imagesPrefix}${img.id}.png`, png, 'image/png');
          const key = cacheKey(batch[i] as (typeof items)[number]);
          if (key !== null) await putBytes(store, key, png, 'image/png');
        }
        done += images.length;
        heartbeat({ shard: input.shard, generated: done, of: items.length });
      }
    }
    return items.map((it) => ({
      id: it.id,
      category: it.category,
      key: `${imagesPrefix}${it.id}.png`,
      usedPrompt: rewritePrompt(parts, it.prompt, it.category),
    }));
  };
}
