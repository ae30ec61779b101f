/**
 * One training stage as a loop of segments. Each segment is one supervised trainer process on the GPU queue that
 * runs until a step budget or a wall-clock cap and returns its last committed checkpoint. The workflow carries
 * only compact state and continues as new when Temporal suggests it.
 *
 * Pause, a lowered step budget and workflow cancellation all stop the running segment the same way: its scope is
 * cancelled, the supervisor sends SIGTERM, the trainer commits a checkpoint, and the activity confirms the
 * cancellation (WAIT_CANCELLATION_COMPLETED: the GPU slot is not reused before the trainer has stopped).
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { TrainerSupervisorActivities, TrainerSegmentResult } from '../activities/training/trainer-supervisor';
import type { RunConfig } from '../configs/schema';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import { checkpointEvaluation } from './evaluation-request';
import { stageKey } from '../contracts/ids';
import { CHECKPOINT_STEP } from '../contracts/search-attributes';
import { pauseUpdate, resumeUpdate, setMaxStepsUpdate, stageProgressQuery, type StageProgress } from '../contracts/training-messages';

/** Compact state carried across continue-as-new. */
export interface StageState {
  step: number;
  segment: number;
  maxSteps: number;
  paused: boolean;
  lastCheckpoint: CheckpointRef | null;
  evaluations: string[];
  recentRewards: Array<{ step: number; reward: number }>;
}

export interface TrainStageInput {
  runId: string;
  stage: number;
  config: RunConfig;
  configBaseDir: string;
  configDigest: string;
  /** Final checkpoints of earlier stages, by stage key (`stage-1`). */
  initFrom: Record<string, CheckpointRef>;
  /** Present after continue-as-new. */
  state?: StageState;
}

export interface TrainStageResult {
  stage: number;
  step: number;
  lastCheckpoint: CheckpointRef | null;
  evaluations: string[];
}

/** The mean of the reward keys a trainer reports (`reward` when present). */
function rewardOf(metrics: Record<string, number>): number | null {
  if (typeof metrics.reward === 'number') return metrics.reward;
  return null;
}

export async function trainStage(input: TrainStageInput): Promise<TrainStageResult> {
  const stageCfg = input.config.stages[input.stage - 1];
  if (stageCfg === undefined) throw ApplicationFailure.create({ type: 'ConfigInvalid', message: `stages[${input.stage - 1}] does not exist`, nonRetryable: true });

  // Trainer segments: one process lifetime per attempt. Heartbeats come with every progress line; the local
  // watchdog handles a stalled trainer, the heartbeat timeout a lost worker.
  const trainer = proxyActivities<TrainerSupervisorActivities>({
    taskQueue: input.config.taskQueues.gpu,
    startToCloseTimeout: `${Math.ceil(stageCfg.budget.segmentMinutes + 30)} minutes`, // segment cap plus upload slack
    heartbeatTimeout: `${Math.max(10, Math.min(stageCfg.stallTimeoutSeconds, 300))} seconds`, // a dead worker is noticed this fast
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, // GPU stays ours until the trainer stopped
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 20 },
  });

  const s: StageState = input.state ?? {
    step: 0,
    segment: 0,
    maxSteps: stageCfg.budget.maxSteps,
    paused: false,
    lastCheckpoint: null,
    evaluations: [],
    recentRewards: [],
  };
  let running: CancellationScope | null = null;
  let runningStopAt = 0;
  let rate: { steps: number; ms: number } = { steps: 0, ms: 0 };
  let done = false;

  setHandler(stageProgressQuery, (): StageProgress => {
    const remaining = Math.max(0, s.maxSteps - s.step);
    const eta = rate.steps > 0 ? Math.round(((rate.ms / rate.steps) * remaining) / 1000) : null;
    return {
      runId: input.runId,
      stage: input.stage,
      step: s.step,
      maxSteps: s.maxSteps,
      segment: s.segment,
      paused: s.paused,
      state: done ? 'done' : s.paused ? (running ? 'stopping' : 'paused') : 'running',
      lastCheckpoint: s.lastCheckpoint,
      recentRewards: s.recentRewards,
      etaSeconds: eta,
      evaluations: s.evaluations,
    };
  });
  setHandler(pauseUpdate, () => {
    s.paused = true;
    running?.cancel();
    return { paused: true as const, step: s.step };
  });
  setHandler(resumeUpdate, () => {
    s.paused = false;
    return { paused: false as const, step: s.step };
  });
  setHandler(
    setMaxStepsUpdate,
    (maxSteps: number) => {
      s.maxSteps = maxSteps;
      // A running segment that would overshoot the new budget is stopped (it checkpoints first).
      if (running && runningStopAt > maxSteps) running.cancel();
      return { maxSteps };
    },
    {
      validator: (maxSteps: number) => {
        if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new Error(`maxSteps: expected an integer ≥ 1, got ${maxSteps}`);
        if (maxSteps < s.step) throw new Error(`maxSteps: expected at least the ${s.step} steps already completed, got ${maxSteps}`);
      },
    },
  );

  const startEvaluations = async (committed: CheckpointRef[]) => {
    for (const ref of committed) {
      if (ref.step % stageCfg.evalEvery !== 0) continue;
      const { workflowId, input: evalInput } = checkpointEvaluation(ref, `${input.runId}/${stageKey(input.stage)}@${ref.step}`, input);
      if (s.evaluations.includes(workflowId)) continue;
      try {
        await startChild('evaluateCheckpoint', {
          workflowId,
          taskQueue: input.config.taskQueues.cpu,
          // Evaluations finish on their own even if training ends or is cancelled.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          args: [evalInput],
        });
      } catch (err) {
        // Someone (a watcher, the CLI) already evaluates this checkpoint: that is the dedupe working.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      s.evaluations.push(workflowId);
    }
  };

  while (s.step < s.maxSteps) {
    await condition(() => !s.paused);
    const stopAt = Math.min(s.step + stageCfg.budget.segmentSteps, s.maxSteps);
    const startedAt = Date.now();
    const stepBefore = s.step;
    let result: TrainerSegmentResult | null = null;
    const scope = new CancellationScope();
    running = scope;
    runningStopAt = stopAt;
    try {
      result = await scope.run(() =>
        trainer.runTrainerSegment({
          runId: input.runId,
          stage: input.stage,
          segment: s.segment,
          config: input.config,
          configBaseDir: input.configBaseDir,
          configDigest: input.configDigest,
          stopAtStep: stopAt,
          initFrom: input.initFrom,
        }),
      );
    } catch (err) {
      // Our own stop (pause, lowered budget) is expected; a cancelled workflow is not: rethrow it.
      if (!isCancellation(err) || CancellationScope.current().consideredCancelled) throw err;
    } finally {
      running = null;
    }
    s.segment += 1;
    if (result) {
      s.step = result.step;
      s.lastCheckpoint = result.lastCheckpoint ?? s.lastCheckpoint;
      for (const m of result.metrics) {
        const reward = rewardOf(m.metrics);
        if (reward !== null) s.recentRewards.push({ step: m.step, reward });
      }
      s.recentRewards = s.recentRewards.slice(-50);
      rate = { steps: rate.steps + (s.step - stepBefore), ms: rate.ms + (Date.now() - startedAt) };
      upsertSearchAttributes([{ key: CHECKPOINT_STEP, value: s.step }]);
      await startEvaluations(result.committed);
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof trainStage>({ ...input, state: s });
    }
  }
  done = true;
  await condition(allHandlersFinished);
  return { stage: input.stage, step: s.step, lastCheckpoint: s.lastCheckpoint, evaluations: s.evaluations };
}
