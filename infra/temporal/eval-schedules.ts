/**
 * Evaluation schedules on Temporal: a Schedule per run (and stage) whose action is one `scheduledEvaluation` tick.
 * What `realgen schedule eval|ls|rm` does, without printing.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { LoadedConfig } from '../../configs/load';
import { evalScheduleId, scheduledEvalWorkflowId } from '../../contracts/ids';
import { formatShortDuration } from '../../lib/duration';
import type { ScheduledEvaluationInput } from '../../contracts/scheduled-evaluation';

/** A listed evaluation schedule. */
export interface EvalScheduleRow {
  id: string;
  run: string;
  stage: string;
  every: string;
  paused: boolean;
  next: string | null;
  /** Ticks taken so far (recent actions the server keeps). */
  recentTicks: number;
}

const PREFIX = 'schedule/eval/';

/** Creates the schedule; an existing one for the same run and stage is an error naming `schedule rm`. */
export async function createEvalSchedule(
  client: Client,
  loaded: LoadedConfig,
  runId: string,
  stage: number | undefined,
  everyMs: number,
): Promise<string> {
  const scheduleId = evalScheduleId(runId, stage);
  const input: ScheduledEvaluationInput = {
    runId,
    ...(stage !== undefined ? { stage } : {}),
    config: loaded.config,
    configBaseDir: loaded.baseDir,
    configDigest: loaded.digest,
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: everyMs }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'scheduledEvaluation',
        workflowId: scheduledEvalWorkflowId(runId, stage),
        taskQueue: loaded.config.taskQueues.cpu,
        args: [input],
      },
      // A tick still looking for checkpoints when the next is due makes the next one pointless.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { run: runId, stage: stage === undefined ? 'all' : `stage-${stage}`, every: formatShortDuration(everyMs) },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      throw new Error(
        `schedule ${scheduleId} already exists; remove it first with \`realgen schedule rm --run ${runId}${stage === undefined ? '' : ` --stage ${stage}`}\``,
      );
    }
    throw err;
  }
  return scheduleId;
}

/** Every evaluation schedule on the namespace, sorted by id. */
export async function listEvalSchedules(client: Client): Promise<EvalScheduleRow[]> {
  const rows: EvalScheduleRow[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(PREFIX)) continue;
    const [run = '?', stage = '?'] = s.scheduleId.slice(PREFIX.length).split('/');
    const every = s.spec?.intervals?.[0]?.every;
    rows.push({
      id: s.scheduleId,
      run,
      stage,
      every: typeof every === 'number' ? formatShortDuration(every) : String(every ?? '?'),
      paused: s.state.paused,
      next: s.info.nextActionTimes[0]?.toISOString() ?? null,
      recentTicks: s.info.recentActions.length,
    });
  }
  return rows.sort((a, b) => a.id.localeCompare(b.id));
}

/** Deletes the schedule of a run (and stage); evaluations it started are not touched. */
export async function removeEvalSchedule(client: Client, runId: string, stage: number | undefined): Promise<string> {
  const scheduleId = evalScheduleId(runId, stage);
  try {
    await client.schedule.getHandle(scheduleId).delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new Error(`no schedule ${scheduleId} (see \`realgen schedule ls\`)`);
    throw err;
  }
  return scheduleId;
}
