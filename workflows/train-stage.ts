/**
 * One training stage as a loop of segments. Each segment is one supervised trainer process on the GPU queue that
 * runs until a step budget or a wall-clock cap and returns its last committed checkpoint. The workflow carries
 * only compact state and continues as new when Temporal suggests it.
 *
 * Pause, a lowered step budget and workflow cancellation all stop the running segment the same way: its scope is
 * cancelled, the supervisor sends SIGTERM, the trainer commits a checkpoint, and the activity confirms the
 * cancellation (WAIT_CANCELLATION_COMPLETED: the GPU slot is not reused before the trainer has stopped).
 *
 * Pause holds the whole stage: no segment starts, no evaluation starts, and the stage does not finish (even when the
 * stopped segment reached maxSteps) until it is resumed, so the next stage of the run cannot start either.
 *
 * A stage started afresh under an existing run id (`realgen retry`) resumes from its newest checkpoint (the
 * supervisor finds it) and first starts the evaluations its committed checkpoints are due but never finished.
 */
import {
  ActivityCancellationType,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CpuQueueActivities, GpuQueueActivities } from '../activities/registry';
import type { TrainerSegmentResult } from '../contracts/trainer-segment';
import type { RunConfig } from '../configs/schema';
import type { CheckpointRef } from '../contracts/checkpoint-manifest';
import { realgenFailure } from '../contracts/failures';
import { gpuPriority } from '../contracts/gpu-priority';
import { segmentHeartbeatSeconds } from '../contracts/heartbeat-timeout';
import { stageKey } from '../contracts/ids';
import { CHECKPOINT_STEP } from '../contracts/search-attributes';
import {
  pauseUpdate,
  resumeUpdate,
  runPausedSignal,
  setMaxStepsUpdate,
  stageProgressQuery,
  type StageProgress,
} from '../contracts/training-messages';
import { checkpointEvaluation, startEvaluationOnce } from './start-evaluation';

/** Compact state carried across continue-as-new (the `state` field of the input). */
export interface StageCarry {
  step: number;
  segment: number;
  maxSteps: number;
  paused: boolean;
  /** When the pause began (ISO time); absent in states carried by older code. */
  pausedSince?: string | null;
  lastCheckpoint: CheckpointRef | null;
  evaluations: string[];
  recentRewards: Array<{ step: number; reward: number }>;
  /** GPU-seconds of the finished segments (absent in states carried by older code). */
  gpuSeconds?: number;
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
  state?: StageCarry;
}

export interface TrainStageResult {
  stage: number;
  step: number;
  lastCheckpoint: CheckpointRef | null;
  evaluations: string[];
  /** GPU-seconds of the stage's finished segments (absent in results of older code). */
  gpuSeconds?: number;
  /** The last reported mean reward (absent in results of older code). */
  reward?: number | null;
  /** The step of `reward` (absent in results of older code). */
  rewardStep?: number | null;
}

/** A segment in flight: its scope (cancelled to stop it) and the step it was asked to reach. */
interface RunningSegment {
  scope: CancellationScope;
  stopAt: number;
}

/**
 * Where the stage is. Every transition assigns a new value:
 *
 *   idle ──segment starts──▶ running ──segment ends──▶ idle ──budget reached──▶ done
 *     │                        │ pause                                   ▲
 *     │ pause                  ▼                                         │
 *     └──────────────────▶ paused ◀──segment ends── stopping             │
 *                            │ resume ────────────────────────────────▶ idle
 */
type StageState =
  | { name: 'idle' }
  | { name: 'running'; segment: RunningSegment }
  | { name: 'stopping'; segment: RunningSegment; since: string }
  | { name: 'paused'; since: string }
  | { name: 'done' };

/** What the progress query calls each state. */
const STATE_LABEL = {
  idle: 'running',
  running: 'running',
  stopping: 'stopping',
  paused: 'paused',
  done: 'done',
} as const satisfies Record<StageState['name'], StageProgress['state']>;

/** The mean of the reward keys a trainer reports (`reward` when present). */
function rewardOf(metrics: Record<string, number>): number | null {
  if (typeof metrics.reward === 'number') return metrics.reward;
  return null;
}

export async function trainStage(input: TrainStageInput): Promise<TrainStageResult> {
  const stageCfg = input.config.stages[input.stage - 1];
  if (stageCfg === undefined) throw realgenFailure('ConfigInvalid', `stages[${input.stage - 1}] does not exist`);

  // GPU queue: trainer segments, one process lifetime per attempt. The supervisor heartbeats every few seconds
  // while it lives; the local watchdog handles a stalled trainer, the heartbeat timeout a lost worker.
  const gpu = proxyActivities<GpuQueueActivities>({
    taskQueue: input.config.taskQueues.gpu,
    startToCloseTimeout: `${Math.ceil(stageCfg.budget.segmentMinutes + 30)} minutes`, // segment cap plus upload slack
    heartbeatTimeout: `${segmentHeartbeatSeconds(input.config, stageCfg)} seconds`, // a dead worker is noticed this fast
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, // GPU stays ours until the trainer stopped
    // Constant 2 s for a lost worker (a heartbeat timeout): its retry starts within seconds however often it was
    // retried. A failing trainer backs off exponentially anyway: the supervisor sets each failure's nextRetryDelay.
    retry: { initialInterval: '2 seconds', backoffCoefficient: 1, maximumInterval: '2 minutes', maximumAttempts: 20 },
    // Waiting segments get a GPU slot in the run's priority order, round-robin between runs of equal priority.
    priority: gpuPriority(input.config, input.runId),
  });
  // CPU queue: after a segment stopped for a pause, which checkpoint it committed; when a stage (re)starts, which of
  // its checkpoints still lack a finished evaluation (manifest and report reads, no data).
  const cpu = proxyActivities<CpuQueueActivities>({
    taskQueue: input.config.taskQueues.cpu,
    startToCloseTimeout: '5 minutes', // lists one stage's checkpoints and reads their manifests
    retry: { maximumAttempts: 10 },
  });

  const carry: StageCarry = input.state ?? {
    step: 0,
    segment: 0,
    maxSteps: stageCfg.budget.maxSteps,
    paused: false,
    pausedSince: null,
    lastCheckpoint: null,
    evaluations: [],
    recentRewards: [],
  };
  let state: StageState = carry.paused
    ? { name: 'paused', since: carry.pausedSince ?? new Date().toISOString() }
    : { name: 'idle' };
  /** The state as handlers left it (read through a call: the loop's own narrowing does not see handler transitions). */
  const current = (): StageState => state;
  const rate = { steps: 0, ms: 0 };

  // --- handlers ---
  const pause = (): void => {
    const since = new Date().toISOString();
    if (state.name === 'running') {
      state = { name: 'stopping', segment: state.segment, since };
      state.segment.scope.cancel();
    } else if (state.name === 'idle') {
      state = { name: 'paused', since };
    }
  };
  const resume = (): void => {
    // A stopping segment still ends (it was cancelled); the loop then carries on instead of holding.
    if (state.name === 'stopping') state = { name: 'running', segment: state.segment };
    else if (state.name === 'paused') state = { name: 'idle' };
  };
  const pausedSince = (): string | null => (state.name === 'paused' || state.name === 'stopping' ? state.since : null);

  setHandler(stageProgressQuery, (): StageProgress => {
    const remaining = Math.max(0, carry.maxSteps - carry.step);
    const holding = pausedSince() !== null;
    return {
      runId: input.runId,
      stage: input.stage,
      step: carry.step,
      maxSteps: carry.maxSteps,
      segment: carry.segment,
      paused: holding,
      pausedSince: pausedSince(),
      state: STATE_LABEL[state.name],
      lastCheckpoint: carry.lastCheckpoint,
      recentRewards: carry.recentRewards,
      // No ETA while paused: nothing is progressing.
      etaSeconds: !holding && rate.steps > 0 ? Math.round(((rate.ms / rate.steps) * remaining) / 1000) : null,
      evaluations: carry.evaluations,
      heartbeatTimeoutSeconds: segmentHeartbeatSeconds(input.config, stageCfg),
      gpuSeconds: carry.gpuSeconds ?? 0,
    };
  });
  setHandler(pauseUpdate, () => {
    pause();
    return { paused: true as const, step: carry.step };
  });
  setHandler(resumeUpdate, () => {
    resume();
    return { paused: false as const, step: carry.step };
  });
  // The run's pipeline forwards its pause/resume here (a parent can signal its child, not update it).
  setHandler(runPausedSignal, (paused: boolean) => (paused ? pause() : resume()));
  setHandler(
    setMaxStepsUpdate,
    (maxSteps: number) => {
      carry.maxSteps = maxSteps;
      // A running segment that would overshoot the new budget is stopped (it checkpoints first).
      if (state.name === 'running' && state.segment.stopAt > maxSteps) state.segment.scope.cancel();
      return { maxSteps };
    },
    {
      validator: (maxSteps: number) => {
        if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new Error(`maxSteps: expected an integer ≥ 1, got ${maxSteps}`);
        if (maxSteps < carry.step)
          throw new Error(`maxSteps: expected at least the ${carry.step} steps already completed, got ${maxSteps}`);
      },
    },
  );

  const notPaused = () => state.name !== 'paused';

  const startEvaluations = async (committed: CheckpointRef[]) => {
    for (const ref of committed) {
      if (ref.step % stageCfg.evalEvery !== 0) continue;
      const request = { ref, name: `${input.runId}/${stageKey(input.stage)}@${ref.step}`, runId: input.runId, run: input };
      if (carry.evaluations.includes(checkpointEvaluation(request).workflowId)) continue;
      carry.evaluations.push((await startEvaluationOnce(request)).workflowId);
    }
  };

  const recordSegment = (result: TrainerSegmentResult, stepBefore: number, startedAt: number) => {
    carry.step = result.step;
    carry.lastCheckpoint = result.lastCheckpoint ?? carry.lastCheckpoint;
    for (const m of result.metrics) {
      const reward = rewardOf(m.metrics);
      if (reward !== null) carry.recentRewards.push({ step: m.step, reward });
    }
    carry.recentRewards = carry.recentRewards.slice(-50);
    carry.gpuSeconds = (carry.gpuSeconds ?? 0) + (result.gpuSeconds ?? 0);
    rate.steps += carry.step - stepBefore;
    rate.ms += Date.now() - startedAt;
  };

  /** Runs one segment to its stop step (or until stopped); null when it was stopped by us before it returned. */
  const runSegment = async (stopAt: number): Promise<TrainerSegmentResult | null> => {
    const scope = new CancellationScope();
    state = { name: 'running', segment: { scope, stopAt } };
    try {
      return await scope.run(() =>
        gpu.runTrainerSegment({
          runId: input.runId,
          stage: input.stage,
          segment: carry.segment,
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
      return null;
    }
  };
  /** After a segment (and what it committed is recorded): a stop for a pause now holds, anything else goes on. */
  const endSegment = () => {
    state = state.name === 'stopping' ? { name: 'paused', since: state.since } : { name: 'idle' };
  };

  // --- a retried (or re-run) stage first catches up on evaluations an earlier execution did not finish ---
  if (input.state === undefined && patched('evaluate-missed-checkpoints')) {
    await condition(notPaused);
    const due = await cpu.checkpointsAwaitingEvaluation({
      runId: input.runId,
      stage: stageKey(input.stage),
      evalEvery: stageCfg.evalEvery,
      suite: input.config.realbench.suite,
    });
    await startEvaluations(due);
  }

  // --- the loop ---
  while (carry.step < carry.maxSteps) {
    await condition(notPaused);
    const stopAt = Math.min(carry.step + stageCfg.budget.segmentSteps, carry.maxSteps);
    const startedAt = Date.now();
    const stepBefore = carry.step;
    const result = await runSegment(stopAt);
    carry.segment += 1;
    /** Checkpoints this segment committed that the workflow knows of (to evaluate). */
    let committed: CheckpointRef[] = [];
    if (result) {
      recordSegment(result, stepBefore, startedAt);
      upsertSearchAttributes([{ key: CHECKPOINT_STEP, value: carry.step }]);
      committed = result.committed;
    } else if (current().name === 'stopping' && patched('pause-resolves-stopped-segment')) {
      // The stopped trainer committed a checkpoint on its way out: show it while paused (and evaluate it on resume).
      const { ref } = await cpu.resolveLatestCheckpoint({ runId: input.runId, stage: stageKey(input.stage), mode: 'shallow' });
      if (ref && ref.step > carry.step) {
        carry.step = ref.step;
        carry.lastCheckpoint = ref;
        committed = [ref];
      }
    }
    endSegment();
    // New evaluations wait for a resume like everything else.
    await condition(notPaused);
    await startEvaluations(committed);
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof trainStage>({
        ...input,
        state: { ...carry, paused: pausedSince() !== null, pausedSince: pausedSince() },
      });
    }
  }
  // A paused stage does not finish, even when its last segment reached the budget: the run holds here.
  await condition(notPaused);
  state = { name: 'done' };
  await condition(allHandlersFinished);
  return {
    stage: input.stage,
    step: carry.step,
    lastCheckpoint: carry.lastCheckpoint,
    evaluations: carry.evaluations,
    gpuSeconds: carry.gpuSeconds ?? 0,
    reward: carry.recentRewards.at(-1)?.reward ?? null,
    rewardStep: carry.recentRewards.at(-1)?.step ?? null,
  };
}
