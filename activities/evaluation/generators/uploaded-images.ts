/** Generation backend: a folder uploaded by `realgen eval --images` (content-addressed blobs plus index.json). */
import { realgenFailure } from '../../../contracts/failures';
import type { EvaluationContext } from '../evaluation-context';
import { IMAGES_INDEX, getJson, type ImagesIndex } from '../layout';
import type { ShardGenerator } from './shard-generator';

/** References the uploaded blobs; every item of the shard must be there. */
export function uploadedImagesGenerator({ store }: EvaluationContext, s3Prefix: string): ShardGenerator {
  return async ({ input, items }) => {
    const prefix = s3Prefix.endsWith('/') ? s3Prefix : `${s3Prefix}/`;
    const index = await getJson<ImagesIndex>(store, `${prefix}${IMAGES_INDEX}`);
    if (index === null)
      throw realgenFailure('DatasetMissing', `no ${IMAGES_INDEX} under ${prefix}; upload the folder with realgen eval --images`);
    const missing = items.filter((it) => index.files[it.id] === undefined).map((it) => it.id);
    if (missing.length > 0) {
      throw realgenFailure(
        'DatasetMissing',
        `uploaded images ${prefix} lack ${missing.length} item(s) of shard ${input.shard}: ${missing.join(', ')}`,
        { missing },
      );
    }
    return items.map((it) => ({ id: it.id, category: it.category, key: index.files[it.id]?.key ?? '', usedPrompt: it.prompt }));
  };
}
