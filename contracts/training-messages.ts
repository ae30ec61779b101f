/** Messages of the training workflows: updates (acknowledged, validated) and queries (read-only). */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CheckpointRef } from './checkpoint-manifest';

/** What `progress` returns for one stage. */
export interface StageProgress {
  runId: string;
  stage: number;
  /** Last completed (committed) step. */
  step: number;
  maxSteps: number;
  segment: number;
  /** Paused (or being paused): no segment, evaluation or next stage starts until resumed. */
  paused: boolean;
  /** When the pause began (ISO time), null when not paused. */
  pausedSince: string | null;
  /** `running`, `paused`, `stopping` (a segment is being stopped for a pause), `done`. */
  state: 'running' | 'paused' | 'stopping' | 'done';
  lastCheckpoint: CheckpointRef | null;
  /** Mean reward of the most recent steps (oldest first). */
  recentRewards: Array<{ step: number; reward: number }>;
  /** Seconds to finish at the recent step rate; null until measurable and while paused. */
  etaSeconds: number | null;
  /** Evaluations started for this stage (workflow ids). */
  evaluations: string[];
  /** Heartbeat timeout of the trainer segments: a heartbeat older than this means the worker is lost. */
  heartbeatTimeoutSeconds: number;
  /** GPU-seconds of the stage's finished segments (slot-seconds × GPUs per slot); absent from older workers. */
  gpuSeconds?: number;
}

/** What the pipeline's `progress` returns. */
export interface PipelineProgress {
  runId: string;
  /** Stage now running (its workflow id is `run/<id>/stage/<n>`), or null between stages / when done. */
  currentStage: number | null;
  phase: 'preparing' | 'training' | 'evaluating' | 'done';
  completed: Record<string, CheckpointRef | null>;
  /** When the run was paused (ISO time), null when it is not paused. */
  pausedSince: string | null;
  /** Evaluations started by the run's stages and for its final checkpoint (workflow ids). */
  evaluations: string[];
  /** GPU-seconds of the run's finished stages, by stage key (absent from older workers). */
  gpuSeconds?: Record<string, number>;
  /** The last reward each finished stage reported and its step, by stage key (absent from older workers). */
  rewards?: Record<string, { step: number; reward: number } | null>;
}

/** The pipeline's answer to `pause` / `resume`: the run as a whole holds, whatever stage it is in. */
export interface RunPauseAck {
  paused: boolean;
  pausedSince: string | null;
  /** The stage the pause was forwarded to, if one was running. */
  stage: number | null;
}

/** Stop scheduling segments and stop the running one after it commits a checkpoint. */
export const pauseUpdate = defineUpdate<{ paused: true; step: number }>('pause');
/** Continue after a pause. */
export const resumeUpdate = defineUpdate<{ paused: false; step: number }>('resume');
/** Change the stage's step budget; must not be below the steps already completed. */
export const setMaxStepsUpdate = defineUpdate<{ maxSteps: number }, [number]>('setMaxSteps');
/** Pause (true) or resume (false) the whole run: sent by the run's pipeline to its running stage. */
export const runPausedSignal = defineSignal<[boolean]>('runPaused');
/** Pause a whole run (sent to the pipeline workflow): the running stage stops, nothing new starts until resumed. */
export const runPauseUpdate = defineUpdate<RunPauseAck>('pause');
/** Resume a paused run (sent to the pipeline workflow). */
export const runResumeUpdate = defineUpdate<RunPauseAck>('resume');
/** Progress of a stage. */
export const stageProgressQuery = defineQuery<StageProgress>('progress');
/** Progress of a pipeline. */
export const pipelineProgressQuery = defineQuery<PipelineProgress>('progress');
