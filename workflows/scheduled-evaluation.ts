/**
 * One tick of a `realgen schedule eval` schedule: evaluate the newest committed checkpoint of a run (of one stage, or
 * of the latest stage that has any) unless it already has an evaluation. The evaluation id is the checkpoint's
 * manifest sha (`eval/<sha>/<suite>`), so a tick that finds nothing new starts nothing; a failed evaluation is
 * retried by the next tick. The evaluation is an ABANDONed child: the tick ends at once, the evaluation runs on.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { CpuQueueActivities } from '../activities/registry';
import { stageKey } from '../contracts/ids';
import type { ScheduledEvaluationInput, ScheduledEvaluationResult } from '../contracts/scheduled-evaluation';
import { startEvaluationOnce } from './start-evaluation';

export type { ScheduledEvaluationInput, ScheduledEvaluationResult } from '../contracts/scheduled-evaluation';

export async function scheduledEvaluation(input: ScheduledEvaluationInput): Promise<ScheduledEvaluationResult> {
  const discovery = proxyActivities<CpuQueueActivities>({
    taskQueue: input.config.taskQueues.cpu,
    startToCloseTimeout: '5 minutes', // lists one stage's checkpoints and reads their manifests
    retry: { maximumAttempts: 10 },
  });
  const stages = input.stage !== undefined ? [input.stage] : input.config.stages.map((s) => s.stage).reverse();
  for (const stage of stages) {
    const found = await discovery.listCommittedCheckpoints({ runId: input.runId, stage: stageKey(stage), afterStep: -1 });
    const ref = found.at(-1)?.ref;
    if (ref === undefined) continue;
    const evaluation = await startEvaluationOnce({
      ref,
      name: `${input.runId}/${ref.stage}@${ref.step}`,
      runId: input.runId,
      run: input,
    });
    return { checkpoint: ref, evaluation: evaluation.workflowId, started: evaluation.started };
  }
  return { checkpoint: null, evaluation: null, started: false };
}
