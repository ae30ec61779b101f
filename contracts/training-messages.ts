/** Messages of the training workflows: updates (acknowledged, validated) and queries (read-only). */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { CheckpointRef } from './checkpoint-manifest';

/** What `progress` returns for one stage. */
export interface StageProgress {
  runId: string;
  stage: number;
  /** Last completed (committed) step. */
  step: number;
  maxSteps: number;
  segment: number;
  paused: boolean;
  /** `running`, `paused`, `stopping` (a segment is being stopped), `done`. */
  state: 'running' | 'paused' | 'stopping' | 'done';
  lastCheckpoint: CheckpointRef | null;
  /** Mean reward of the most recent steps (oldest first). */
  recentRewards: Array<{ step: number; reward: number }>;
  /** Seconds to finish at the recent step rate; null until measurable. */
  etaSeconds: number | null;
  /** Evaluations started for this stage (workflow ids). */
  evaluations: string[];
}

/** What the pipeline's `progress` returns. */
export interface PipelineProgress {
  runId: string;
  /** Stage now running (its workflow id is `run/<id>/stage/<n>`), or null between stages / when done. */
  currentStage: number | null;
  phase: 'preparing' | 'training' | 'evaluating' | 'done';
  completed: Record<string, CheckpointRef | null>;
}

/** Stop scheduling segments and stop the running one after it commits a checkpoint. */
export const pauseUpdate = defineUpdate<{ paused: true; step: number }>('pause');
/** Continue after a pause. */
export const resumeUpdate = defineUpdate<{ paused: false; step: number }>('resume');
/** Change the stage's step budget; must not be below the steps already completed. */
export const setMaxStepsUpdate = defineUpdate<{ maxSteps: number }, [number]>('setMaxSteps');
/** Progress of a stage. */
export const stageProgressQuery = defineQuery<StageProgress>('progress');
/** Progress of a pipeline. */
export const pipelineProgressQuery = defineQuery<PipelineProgress>('progress');
