/** Generation backend: the realgen-mini generator with a training checkpoint's policy and adapter (or none: the base). */
import { encodePng } from '../../../infra/image/decode';
import { generateWithCheckpoint, rewritePrompt } from '../../../infra/mini/checkpoint-generator';
import { throwIfCancelled } from '../../cancellation';
import { heartbeat } from '../../heartbeat';
import type { EvaluationContext } from '../evaluation-context';
import { listKeys, putBytes } from '../layout';
import type { ShardGenerator } from './shard-generator';

/** Generates what is not uploaded yet, batch by batch (config-independent batch size: `generateBatch`). */
export function miniCheckpointGenerator({ store, caches, deps }: EvaluationContext): ShardGenerator {
  const batchSize = deps.generateBatch ?? 8;
  return async ({ input, items, imagesPrefix }) => {
    const { spec } = input;
    const existing = new Set((await listKeys(store, imagesPrefix)).map((k) => k.slice(imagesPrefix.length)));
    const parts = await caches.checkpointParts(spec);
    const todo = items.filter((it) => !existing.has(`${it.id}.png`));
    if (todo.length > 0) {
      const { generator, tokenizer } = await caches.generator(spec);
      let done = items.length - todo.length;
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
        for (const img of images) await putBytes(store, `${imagesPrefix}${img.id}.png`, await encodePng(img.image), 'image/png');
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
