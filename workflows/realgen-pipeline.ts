/**
 * The RealGen pipeline of one run: prepare data → stage 1 (prompt optimizer, generator frozen) → stage 2
 * (diffusion model, optimizer frozen) → stage 3 (joint) → final RealBench evaluation. Each stage is a child
 * workflow (`run/<id>/stage/<n>`), so it can be watched, paused and resumed on its own.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, executeChild, proxyActivities, setHandler, startChild } from '@temporalio/workflow';
import type { DataActivities, PreparedData } from '../activities/data-activities';
import type { RunConfig } from '../configs/schema';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import { checkpointEvaluation } from './evaluation-request';
import { stageKey, stageWorkflowId } from '../contracts/ids';
import { RUN_ID, STAGE } from '../contracts/search-attributes';
import type { trainStage } from './train-stage';
import { pipelineProgressQuery, type PipelineProgress } from '../contracts/training-messages';

export interface PipelineInput {
  runId: string;
  config: RunConfig;
  configBaseDir: string;
  configDigest: string;
  /** Warm starts: a stage key (`stage-2`) → the checkpoint that stage starts from (resolved by the CLI). */
  startFrom?: Record<string, CheckpointRef>;
  /** Run the final RealBench evaluation. @default true */
  evaluateFinal?: boolean;
}

export interface PipelineResult {
  data: PreparedData;
  stages: Record<string, CheckpointRef | null>;
  /** Workflow id of the final evaluation (started here or already running). */
  finalEvaluation: string | null;
}

export async function realgenPipeline(input: PipelineInput): Promise<PipelineResult> {
  // Data preparation uploads RealBench once per content hash; heartbeats every 50 files.
  const data = proxyActivities<DataActivities>({
    taskQueue: input.config.taskQueues.cpu,
    startToCloseTimeout: '1 hour', // first upload of 1041 photos on a slow link
    heartbeatTimeout: '2 minutes',
    retry: { maximumAttempts: 10 },
  });

  const progress: PipelineProgress = { runId: input.runId, currentStage: null, phase: 'preparing', completed: {} };
  setHandler(pipelineProgressQuery, () => progress);

  const prepared = await data.prepareData({ config: input.config, configBaseDir: input.configBaseDir });
  progress.phase = 'training';

  const completed: Record<string, CheckpointRef | null> = {};
  for (const stage of input.config.stages) {
    const key = stageKey(stage.stage);
    if (!stage.enabled) {
      completed[key] = input.startFrom?.[key] ?? null;
      continue;
    }
    const initFrom: Record<string, CheckpointRef> = {};
    for (const [k, ref] of Object.entries(completed)) if (ref) initFrom[k] = ref;
    const warm = input.startFrom?.[key];
    if (warm) initFrom[key] = warm;
    progress.currentStage = stage.stage;
    const result = await executeChild<typeof trainStage>('trainStage', {
      workflowId: stageWorkflowId(input.runId, stage.stage),
      taskQueue: input.config.taskQueues.cpu,
      // Cancelling the run asks the stage to stop its trainer after a checkpoint.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: [
        { key: RUN_ID, value: input.runId },
        { key: STAGE, value: key },
      ],
      args: [{ runId: input.runId, stage: stage.stage, config: input.config, configBaseDir: input.configBaseDir, configDigest: input.configDigest, initFrom }],
    });
    completed[key] = result.lastCheckpoint;
    progress.completed = { ...completed };
  }
  progress.currentStage = null;

  let finalEvaluation: string | null = null;
  const last = Object.values(completed).filter((r): r is CheckpointRef => r !== null).at(-1);
  if (last && input.evaluateFinal !== false) {
    progress.phase = 'evaluating';
    const evaluation = checkpointEvaluation(last, `${input.runId}/final`, input);
    finalEvaluation = evaluation.workflowId;
    try {
      await startChild('evaluateCheckpoint', {
        workflowId: finalEvaluation,
        taskQueue: input.config.taskQueues.cpu,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [evaluation.input],
      });
    } catch (err) {
      // The stage already evaluates this exact checkpoint: its evaluation is the run's final one.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
  progress.phase = 'done';
  return { data: prepared, stages: completed, finalEvaluation };
}
