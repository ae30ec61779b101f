/** Typed search attributes every run workflow carries (registered by `realgen dev up`; see docs/deploy.md). */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RUN_ID = defineSearchAttributeKey('RunId', SearchAttributeType.KEYWORD);
export const STAGE = defineSearchAttributeKey('Stage', SearchAttributeType.KEYWORD);
export const CHECKPOINT_STEP = defineSearchAttributeKey('CheckpointStep', SearchAttributeType.INT);
