/** The resume-time check that a run's config did not change silently under its checkpoints; a change is recorded in the lineage. */
import type { CheckpointRef } from '../../contracts/checkpoint-manifest';
import { realgenFailure } from '../../contracts/failures';
import type { TrainerSegmentInput } from '../../contracts/trainer-segment';
import { decideConfigChange } from '../../domain/checkpoints/config-change';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';

/**
 * Compares the resumed checkpoint's config digest with this run's (domain/checkpoints/config-change.ts): a change
 * without `allowConfigChange` fails the segment non-retryably naming both digests.
 */
export async function checkConfigChange(
  store: CheckpointStore,
  parent: CheckpointRef,
  input: TrainerSegmentInput,
): Promise<{ from: string; to: string; parentStep: number } | null> {
  const { manifest } = await store.readManifest(parent.prefix);
  const decision = decideConfigChange(
    manifest.configDigest,
    parent.step,
    input.configDigest,
    input.config.allowConfigChange === true,
  );
  if (!decision.ok) throw realgenFailure('ConfigInvalid', `stage ${input.stage}: ${decision.message}`);
  return decision.change;
}
