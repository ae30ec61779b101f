/** The contract every generation backend (mini checkpoint, uploaded folder, external command) fulfils for a shard. */
import type { ShardInput } from '../../../contracts/evaluation';
import type { GeneratedItem, PlanItem } from '../shard-records';

/** One shard to generate: its items, and the prefix under which generated images are uploaded. */
export interface ShardGeneration {
  input: ShardInput;
  items: PlanItem[];
  imagesPrefix: string;
}

/**
 * Produces (or finds) an image for every item, in item order. Images already uploaded by an earlier attempt are
 * reused, so a retried shard does not regenerate them.
 */
export type ShardGenerator = (job: ShardGeneration) => Promise<GeneratedItem[]>;
