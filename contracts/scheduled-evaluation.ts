/** What a `scheduledEvaluation` tick (workflows/scheduled-evaluation.ts) takes and returns; schedules carry the input. */
import type { RunConfig } from '../configs/schema';
import type { CheckpointRef } from './checkpoint-manifest';

export interface ScheduledEvaluationInput {
  runId: string;
  /** The stage to look in; absent = the latest stage of the config that has a committed checkpoint. */
  stage?: number;
  config: RunConfig;
  configBaseDir: string;
  configDigest: string;
}

/** What a tick did: the checkpoint it found (null: none yet) and whether it started its evaluation. */
export interface ScheduledEvaluationResult {
  checkpoint: CheckpointRef | null;
  evaluation: string | null;
  started: boolean;
}
