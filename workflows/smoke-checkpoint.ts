/**
 * Storage smoke test on the real stack: a GPU-queue activity commits a checkpoint, a CPU-queue activity resolves
 * the newest valid checkpoint of that run and deep-verifies it.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { CpuQueueActivities, GpuQueueActivities } from '../activities/registry';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import type { SkippedCheckpoint } from '../contracts/checkpoint-manifest';
import { realgenFailure } from '../contracts/failures';

export interface SmokeCheckpointInput {
  runId: string;
  /** Payload size in bytes. */
  sizeBytes: number;
  configDigest: string;
  taskQueues: { gpu: string; cpu: string };
}

export interface SmokeCheckpointResult {
  committed: CheckpointRef;
  resolved: CheckpointRef;
  skipped: SkippedCheckpoint[];
  verified: { files: number; bytes: number };
}

export async function smokeCheckpoint(input: SmokeCheckpointInput): Promise<SmokeCheckpointResult> {
  // Writer: runs where trainers run. Uploads heartbeat per file, so a dead worker is noticed in a minute.
  const writer = proxyActivities<GpuQueueActivities>({
    taskQueue: input.taskQueues.gpu,
    startToCloseTimeout: '30 minutes', // a multi-GiB upload on a slow link
    heartbeatTimeout: '1 minute', // one heartbeat per uploaded file
    retry: { maximumAttempts: 5 },
  });
  // Readers: resolution and deep verification stream every object back once.
  const reader = proxyActivities<CpuQueueActivities>({
    taskQueue: input.taskQueues.cpu,
    startToCloseTimeout: '30 minutes', // deep verify re-reads the whole checkpoint
    retry: { maximumAttempts: 5 },
  });

  const committed = await writer.writeSmokeCheckpoint({
    runId: input.runId,
    stage: 'smoke',
    step: 1,
    sizeBytes: input.sizeBytes,
    configDigest: input.configDigest,
  });
  const { ref, skipped } = await reader.resolveLatestCheckpoint({ runId: input.runId, stage: 'smoke' });
  // A failure from the vocabulary fails the run; a plain Error would fail the workflow task and retry it forever.
  if (ref === null) {
    const why = `no valid checkpoint found for ${input.runId} right after committing one (do both queues' workers use the same bucket?)`;
    throw realgenFailure('CheckpointNotFound', why, { committed: committed.prefix, skipped: skipped.length });
  }
  const verified = await reader.verifyCheckpoint(ref);
  return { committed, resolved: ref, skipped, verified };
}
