/**
 * `realgen retry RUN`: resume a failed, cancelled or terminated run under the same run id. The pipeline starts again
 * with the input it was started with; every stage resumes from its newest valid checkpoint (a finished stage returns
 * at once), evaluations that failed or never finished start again while finished ones are skipped, and the new
 * execution's memo names the one it retries.
 */
import type { Command } from 'commander';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { applyEnvOverrides } from '../configs/load';
import { runWorkflowId, stageKey } from '../contracts/ids';
import { RUN_ID } from '../contracts/search-attributes';
import { createEvaluationBacklog } from '../activities/evaluation/evaluation-backlog';
import { CheckpointStore } from '../infra/s3/checkpoint-store';
import { createS3Client, resolveS3Credentials } from '../infra/s3/s3-client';
import type { PipelineInput } from '../workflows/realgen-pipeline';
import { withContext } from './context';
import { addConfigOption, configFileOf } from './options';

/** What the new execution's memo says about the one it continues. */
export interface RetryMemo {
  retryOf: { runId: string; status: string };
}

/** The input the run's last execution was started with (read from its history: the exact same config). */
async function recordedInput(client: Client, workflowId: string, executionRunId: string): Promise<PipelineInput> {
  const history = await client.workflow.getHandle(workflowId, executionRunId).fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`${workflowId}: its history has no start input to retry with`);
  return defaultPayloadConverter.fromPayload<PipelineInput>(payload);
}

async function retry(client: Client, runId: string): Promise<void> {
  const workflowId = runWorkflowId(runId);
  const desc = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError)
        throw new Error(`no run ${runId} (workflow ${workflowId}) on this Temporal server`);
      throw err;
    });
  const status = desc.status.name;
  if (status === 'RUNNING') {
    throw new Error(`run ${runId} is still running (workflow ${workflowId}); nothing to retry — see \`realgen status ${runId}\``);
  }
  if (status === 'COMPLETED') throw new Error(`run ${runId} completed; nothing to retry`);
  const stillStopping = `RealgenRunId = '${runId}' AND WorkflowType = 'trainStage' AND ExecutionStatus = 'Running'`;
  for await (const wf of client.workflow.list({ query: stillStopping })) {
    throw new Error(`stage workflow ${wf.workflowId} of run ${runId} is still stopping; retry once it has closed`);
  }
  const input = await recordedInput(client, workflowId, desc.runId);

  // Resuming needs something to resume from: at least one committed, valid checkpoint of an enabled stage.
  const config = applyEnvOverrides(input.config);
  const s3 = createS3Client(config.storage, resolveS3Credentials(config, input.configBaseDir));
  const store = new CheckpointStore({ client: s3, bucket: config.storage.bucket });
  const resumeAt: string[] = [];
  const finished: string[] = [];
  const fresh: string[] = [];
  const evaluations: string[] = [];
  const backlog = createEvaluationBacklog({ store });
  for (const stage of config.stages.filter((s) => s.enabled)) {
    const key = stageKey(stage.stage);
    const { ref } = await store.latestValidCheckpoint(runId, key, { mode: 'shallow' });
    if (ref && ref.step >= stage.budget.maxSteps) finished.push(`${key} (step ${ref.step})`);
    else if (ref) resumeAt.push(`${key} from step ${ref.step}`);
    else fresh.push(key);
    // What the stage will start again first: its due checkpoints without a finished evaluation report.
    const due = await backlog({ runId, stage: key, evalEvery: stage.evalEvery, suite: config.realbench.suite });
    evaluations.push(...due.map((r) => `${key}@${r.step}`));
  }
  if (resumeAt.length === 0 && finished.length === 0) {
    throw new Error(
      `run ${runId} has no valid checkpoint to resume from (runs/${runId}/stage-*/checkpoints/ in bucket ${config.storage.bucket}); ` +
        `start it afresh with \`realgen run <config> --run-id ${runId}\``,
    );
  }

  const memo: RetryMemo = { retryOf: { runId: desc.runId, status } };
  const handle = await client.workflow.start('realgenPipeline', {
    workflowId,
    taskQueue: config.taskQueues.cpu,
    args: [input],
    typedSearchAttributes: [{ key: RUN_ID, value: runId }],
    memo: { ...memo },
  });
  console.log(
    `retrying run ${runId} (${status.toLowerCase()} execution ${desc.runId} → new execution ${handle.firstExecutionRunId})`,
  );
  if (finished.length > 0) console.log(`finished, not trained again: ${finished.join(', ')}`);
  if (resumeAt.length > 0) console.log(`resuming ${resumeAt.join(', ')}`);
  if (fresh.length > 0) console.log(`not started yet: ${fresh.join(', ')}`);
  console.log(
    evaluations.length > 0
      ? `evaluations that did not finish, started again: ${evaluations.join(', ')} (finished ones are skipped)`
      : 'every due evaluation has finished; none is started again',
  );
  console.log(`watch it with: realgen status ${runId}`);
}

export function registerRetryCommand(program: Command): void {
  addConfigOption(
    program
      .command('retry')
      .description(
        'resume a failed, cancelled or terminated run under the same run id, each stage from its newest valid checkpoint',
      )
      .argument('<run>', 'run id'),
  ).action(async (runId: string, opts: { config?: string }) => {
    await withContext(configFileOf(opts.config), async (ctx) => retry(await ctx.client(), runId));
  });
}
