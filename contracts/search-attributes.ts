/**
 * Typed search attributes every run workflow carries (registered by `realgen dev up`; on a cluster register them
 * with `temporal operator search-attribute create`). Prefixed: Temporal reserves `RunId` for itself.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RUN_ID = defineSearchAttributeKey('RealgenRunId', SearchAttributeType.KEYWORD);
export const STAGE = defineSearchAttributeKey('RealgenStage', SearchAttributeType.KEYWORD);
export const CHECKPOINT_STEP = defineSearchAttributeKey('RealgenCheckpointStep', SearchAttributeType.INT);
