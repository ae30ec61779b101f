/**
 * The RealGen pipeline of one run: prepare data → stage 1 (prompt optimizer, generator frozen) → stage 2
 * (diffusion model, optimizer frozen) → stage 3 (joint) → final RealBench evaluation. Each stage is a child
 * workflow (`run/<id>/stage/<n>`), so it can be watched, paused and resumed on its own.
 */
import {
  ParentClosePolicy,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  upsertMemo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { PreparedData } from '../activities/data-activities';
import type { CpuQueueActivities } from '../activities/registry';
import type { RunConfig } from '../configs/schema';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import { stageKey, stageWorkflowId } from '../contracts/ids';
import { dashboardLink, type NotificationMessage } from '../contracts/notifications';
import { RUN_ID, STAGE } from '../contracts/search-attributes';
import {
  pipelineProgressQuery,
  runPausedSignal,
  runPauseUpdate,
  runResumeUpdate,
  type PipelineProgress,
  type RunPauseAck,
} from '../contracts/training-messages';
import { notifyEvent } from './deliver-notification';
import { checkpointEvaluation, startEvaluationOnce } from './start-evaluation';
import type { trainStage } from './train-stage';

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
  /** GPU-seconds of each trained stage (absent in results of older code). */
  gpuSeconds?: Record<string, number>;
}

/** Memo of a run (shown by `realgen runs` without asking a worker): GPU-seconds of its finished stages. */
export interface PipelineMemo {
  gpuSeconds: number;
}

export async function realgenPipeline(input: PipelineInput): Promise<PipelineResult> {
  const seen: { progress?: PipelineProgress } = {};
  try {
    return await runPipeline(input, seen);
  } catch (err) {
    // A cancelled run was stopped by its operator; anything else is a failure worth telling about.
    if (!isCancellation(err)) {
      await notifyEvent(
        input,
        input.runId,
        runMessage(input, 'run-failed', `run ${input.runId} failed: ${(err as Error).message}`, seen.progress),
      );
    }
    throw err;
  }
}

/** A run-level message with the run's headline numbers. */
function runMessage(
  input: PipelineInput,
  event: NotificationMessage['event'],
  title: string,
  progress?: PipelineProgress,
): NotificationMessage {
  const gpuSeconds = Object.values(progress?.gpuSeconds ?? {}).reduce((a, b) => a + b, 0);
  const steps = Object.fromEntries(Object.entries(progress?.completed ?? {}).map(([k, ref]) => [`${k} step`, ref?.step ?? null]));
  const cost = input.config.costPerGpuHour;
  return {
    event,
    runId: input.runId,
    title,
    numbers: {
      ...steps,
      stage: progress?.currentStage ?? null,
      gpuHours: gpuSeconds / 3600,
      ...(cost !== undefined ? { cost: (gpuSeconds / 3600) * cost } : {}),
    },
    link: dashboardLink(input.config.notifications ?? { dashboardUrl: '' }, { runId: input.runId }),
    at: new Date().toISOString(),
  };
}

async function runPipeline(input: PipelineInput, seen: { progress?: PipelineProgress }): Promise<PipelineResult> {
  // Runs started by older code recorded no memo of their GPU usage.
  const recordsUsage = patched('gpu-usage-memo');
  // CPU queue: data preparation uploads RealBench once per content hash.
  const cpu = proxyActivities<CpuQueueActivities>({
    taskQueue: input.config.taskQueues.cpu,
    startToCloseTimeout: '1 hour', // first upload of 1041 photos on a slow link
    heartbeatTimeout: '2 minutes', // one heartbeat per 50 uploaded files
    retry: { maximumAttempts: 10 },
  });

  const progress: PipelineProgress = {
    runId: input.runId,
    currentStage: null,
    phase: 'preparing',
    completed: {},
    pausedSince: null,
    evaluations: [],
    gpuSeconds: {},
    rewards: {},
  };
  seen.progress = progress;
  /** The stage child now running, to forward pause/resume to. */
  const current: { stage: ChildWorkflowHandle<typeof trainStage> | null } = { stage: null };

  // --- handlers: pause holds the whole run; the running stage is told, nothing new starts until resume ---
  const ack = (): RunPauseAck => ({
    paused: progress.pausedSince !== null,
    pausedSince: progress.pausedSince,
    stage: current.stage ? progress.currentStage : null,
  });
  setHandler(pipelineProgressQuery, () => progress);
  setHandler(runPauseUpdate, async () => {
    progress.pausedSince ??= new Date().toISOString();
    await current.stage?.signal(runPausedSignal, true);
    return ack();
  });
  setHandler(runResumeUpdate, async () => {
    progress.pausedSince = null;
    await current.stage?.signal(runPausedSignal, false);
    return ack();
  });
  const notPaused = () => progress.pausedSince === null;

  // --- the run ---
  const prepared = await cpu.prepareData({ config: input.config, configBaseDir: input.configBaseDir });
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
    await condition(notPaused);
    progress.currentStage = stage.stage;
    const handle = await startChild<typeof trainStage>('trainStage', {
      workflowId: stageWorkflowId(input.runId, stage.stage),
      taskQueue: input.config.taskQueues.cpu,
      // Cancelling the run asks the stage to stop its trainer after a checkpoint.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: [
        { key: RUN_ID, value: input.runId },
        { key: STAGE, value: key },
      ],
      args: [
        {
          runId: input.runId,
          stage: stage.stage,
          config: input.config,
          configBaseDir: input.configBaseDir,
          configDigest: input.configDigest,
          initFrom,
        },
      ],
    });
    current.stage = handle;
    // Paused while the child was being started: it has not heard of it yet.
    if (!notPaused()) await handle.signal(runPausedSignal, true);
    const result = await handle.result();
    current.stage = null;
    completed[key] = result.lastCheckpoint;
    progress.completed = { ...completed };
    progress.evaluations = [...new Set([...progress.evaluations, ...result.evaluations])];
    progress.gpuSeconds = { ...progress.gpuSeconds, [key]: result.gpuSeconds ?? 0 };
    const reward = result.reward ?? null;
    progress.rewards = {
      ...progress.rewards,
      [key]: reward === null ? null : { step: result.rewardStep ?? result.step, reward },
    };
    if (recordsUsage)
      upsertMemo({ gpuSeconds: Object.values(progress.gpuSeconds).reduce((a, b) => a + b, 0) } satisfies PipelineMemo);
    await notifyEvent(input, `${input.runId}/${key}`, {
      ...runMessage(input, 'stage-finished', `run ${input.runId}: ${key} finished at step ${result.step}`, progress),
      numbers: { step: result.step, reward: result.reward ?? null, gpuHours: (result.gpuSeconds ?? 0) / 3600 },
    });
  }
  progress.currentStage = null;

  let finalEvaluation: string | null = null;
  const last = Object.values(completed)
    .filter((r): r is CheckpointRef => r !== null)
    .at(-1);
  if (last && input.evaluateFinal !== false) {
    await condition(notPaused);
    progress.phase = 'evaluating';
    const request = { ref: last, name: `${input.runId}/final`, runId: input.runId, run: input };
    finalEvaluation = checkpointEvaluation(request).workflowId;
    // A stage already evaluates this exact checkpoint: that evaluation is the run's final one. Starting it again
    // would only fail (a red "already started" event in the UI).
    const alreadyStarted = progress.evaluations.includes(finalEvaluation) && patched('final-evaluation-started-once');
    if (!alreadyStarted) await startEvaluationOnce(request);
    progress.evaluations = [...new Set([...progress.evaluations, finalEvaluation])];
  }
  progress.phase = 'done';
  await notifyEvent(input, input.runId, runMessage(input, 'run-finished', `run ${input.runId} finished`, progress));
  return { data: prepared, stages: completed, finalEvaluation, gpuSeconds: progress.gpuSeconds };
}
