/**
 * What the stage workflow and the trainer supervisor activity exchange about one segment (one trainer process run
 * from the newest committed checkpoint up to `stopAtStep`): its input, its result and its heartbeat payload.
 */
import type { RunConfig } from '../configs/schema';
import type { CheckpointRef } from './checkpoint-manifest';

/** The segment to run. */
export interface TrainerSegmentInput {
  runId: string;
  stage: number;
  segment: number;
  config: RunConfig;
  /** Folder the config's relative paths resolve against (on the worker). */
  configBaseDir: string;
  configDigest: string;
  /** The segment ends once this step is completed. */
  stopAtStep: number;
  /** Final checkpoints of earlier stages this stage builds on, by stage key. */
  initFrom: Record<string, CheckpointRef>;
}

/** What the segment did. */
export interface TrainerSegmentResult {
  /** Last completed step (the newest committed checkpoint's). */
  step: number;
  lastCheckpoint: CheckpointRef | null;
  /** Checkpoints committed by this attempt, oldest first. */
  committed: CheckpointRef[];
  /** Recent per-step metrics, oldest first (at most 200). */
  metrics: Array<{ step: number; metrics: Record<string, number> }>;
  /** Why the segment ended: `budget` (reached stopAtStep), `wallclock`, or `resumed-complete` (nothing to do). */
  reason: 'budget' | 'wallclock' | 'resumed-complete';
  /**
   * GPU-seconds this attempt held its slot (seconds × GPUs of the slot; a CPU-only slot counts as one). Absent in
   * results recorded by older code.
   */
  gpuSeconds?: number;
}

/** Heartbeat payload: small, the resume hint (the manifest stays the truth). */
export interface SegmentHeartbeat {
  step: number;
  lastCheckpoint: string | null;
  phase: 'resolving' | 'running' | 'committing' | 'stopping';
  /** The GPU ids of the slot the trainer holds (`[]`: a CPU-only slot); absent until it holds one. */
  gpus?: number[];
  /**
   * The newest `reward` the trainer reported in this segment and its step: `realgen status` shows it while the
   * segment runs (the stage's own progress only learns rewards when a segment ends). Absent before the first one.
   */
  reward?: { step: number; value: number };
}
