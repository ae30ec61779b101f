/**
 * Evaluations for checkpoints written by an outside trainer: a durable polling loop that discovers newly committed
 * manifests under `runs/<runId>/<stage>/checkpoints/` and starts `evaluateCheckpoint` for each one whose step is a
 * multiple of `evalEvery` — once (the evaluation id is the checkpoint's manifest sha, so a checkpoint already
 * evaluated by training or the CLI is not evaluated again). Runs until cancelled; continues as new when asked.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { CpuQueueActivities } from '../activities/registry';
import type { RunConfig } from '../configs/schema';
import { startEvaluationOnce } from './start-evaluation';

export interface WatchCheckpointsInput {
  runId: string;
  /** Stage folder name, e.g. `stage-2`. */
  stage: string;
  /** Evaluate checkpoints whose step is a multiple of this. @default 1 */
  evalEvery?: number;
  /** Seconds between polls. @default 60 */
  pollSeconds?: number;
  config: RunConfig;
  configBaseDir: string;
  configDigest: string;
  /** Carried across continue-as-new: the newest step already handled. */
  afterStep?: number;
  /** Stop after this many polls (tests and one-shot sweeps); absent = until cancelled. */
  maxPolls?: number;
}

export interface WatchProgress {
  afterStep: number;
  polls: number;
  started: string[];
}

export const watchProgressQuery = defineQuery<WatchProgress>('progress');

export async function watchCheckpoints(input: WatchCheckpointsInput): Promise<WatchProgress> {
  // Listing is cheap (object listing + manifest reads); retried forever because a watcher must outlive outages.
  const discovery = proxyActivities<CpuQueueActivities>({
    taskQueue: input.config.taskQueues.cpu,
    startToCloseTimeout: '5 minutes', // lists a prefix and reads small manifests
    retry: { maximumInterval: '5 minutes' },
  });
  const progress: WatchProgress = { afterStep: input.afterStep ?? -1, polls: 0, started: [] };
  setHandler(watchProgressQuery, () => progress);
  const evalEvery = input.evalEvery ?? 1;
  for (;;) {
    const found = await discovery.listCommittedCheckpoints({
      runId: input.runId,
      stage: input.stage,
      afterStep: progress.afterStep,
    });
    for (const { ref } of found) {
      progress.afterStep = Math.max(progress.afterStep, ref.step);
      if (ref.step % evalEvery !== 0) continue;
      // Already evaluated (or being evaluated) counts as done: exactly once per checkpoint is the point.
      const evaluation = await startEvaluationOnce({
        ref,
        name: `${input.runId}/${input.stage}@${ref.step}`,
        runId: input.runId,
        run: input,
      });
      if (evaluation.started) progress.started.push(evaluation.workflowId);
    }
    progress.polls += 1;
    if (input.maxPolls !== undefined && progress.polls >= input.maxPolls) return progress;
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof watchCheckpoints>({
        ...input,
        afterStep: progress.afterStep,
        maxPolls: input.maxPolls === undefined ? undefined : input.maxPolls - progress.polls,
      });
    }
    await sleep(`${input.pollSeconds ?? 60} seconds`);
  }
}
