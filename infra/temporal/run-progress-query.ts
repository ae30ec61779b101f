/** A run's progress as Temporal reports it: the pipeline's query, the running stage's, and the segment's liveness. */
import type { Client } from '@temporalio/client';
import { runWorkflowId, stageWorkflowId } from '../../contracts/ids';
import {
  pipelineProgressQuery,
  stageProgressQuery,
  type PipelineProgress,
  type StageProgress,
} from '../../contracts/training-messages';
import { segmentLiveness, type SegmentLiveness } from './segment-liveness';

export interface RunProgress {
  pipeline: PipelineProgress;
  stage: StageProgress | null;
  /** The workflow status, or `paused since <time>` while the run is paused. */
  status: string;
  /** The running segment's last heartbeat, or "worker lost" (null when no segment runs). */
  segment: SegmentLiveness | null;
}

/** The pipeline's progress query, plus the running stage's (null while none runs or it cannot answer). */
export async function pipelineProgress(client: Client, runId: string): Promise<RunProgress> {
  const handle = client.workflow.getHandle(runWorkflowId(runId));
  const desc = await handle.describe();
  const pipeline = await handle.query(pipelineProgressQuery);
  let stage: StageProgress | null = null;
  let segment: SegmentLiveness | null = null;
  if (pipeline.currentStage !== null) {
    const stageWf = client.workflow.getHandle(stageWorkflowId(runId, pipeline.currentStage));
    stage = await stageWf.query(stageProgressQuery).catch(() => null);
    if (stage && stage.state !== 'done')
      segment = await segmentLiveness(stageWf, stage.heartbeatTimeoutSeconds ?? 120).catch(() => null);
  }
  // A paused run is not "RUNNING" to its operator: say since when it holds.
  const pausedSince = pipeline.pausedSince ?? stage?.pausedSince ?? null;
  const status = desc.status.name === 'RUNNING' && pausedSince ? `paused since ${pausedSince}` : desc.status.name;
  return { pipeline, stage, status, segment };
}
