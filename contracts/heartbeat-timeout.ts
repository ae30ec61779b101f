/** How long a trainer segment may go without a heartbeat before its worker counts as lost. */
import type { RunConfig, StageConfig } from '../configs/schema';

/**
 * `workers.gpu.heartbeatTimeoutSeconds`. Configs recorded in the histories of runs started before that field existed
 * lack it: those runs keep the timeout they were started with (the stall timeout, clamped to 10-300 s).
 */
export function segmentHeartbeatSeconds(config: RunConfig, stage: StageConfig): number {
  const configured = (config.workers.gpu as { heartbeatTimeoutSeconds?: number }).heartbeatTimeoutSeconds;
  return configured ?? Math.max(10, Math.min(stage.stallTimeoutSeconds, 300));
}

/**
 * The heartbeat timeout of evaluation activities: `workers.gpu.heartbeatTimeoutSeconds` (they heartbeat every second
 * while they run). Configs recorded before that field existed keep the 5 minutes their evaluations were started with.
 */
export function evaluationHeartbeatSeconds(config: RunConfig): number {
  return (config.workers.gpu as { heartbeatTimeoutSeconds?: number }).heartbeatTimeoutSeconds ?? 300;
}
