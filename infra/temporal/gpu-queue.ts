/**
 * The GPU task queue as an operator sees it: which GPU activities hold a slot now (worker, GPUs) and which wait, in
 * the order the server hands them out. Read from the pending activities of running stage and evaluation workflows.
 *
 * Order of the waiting ones (what the server does with priority and fairness keys, devstack/dev-stack.ts): lower
 * priority key first; within one priority, round-robin over fairness keys (runs / evaluations), each key's tasks
 * first-come first-served, the key waiting longest first.
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';

/** One GPU activity of a workflow. */
export interface QueueEntry {
  workflowId: string;
  activity: string;
  /** Priority key (1 first … 5 last); 3 when the activity carries none (Temporal's default middle). */
  priority: number;
  /** Fairness key (the run id, or the evaluation key); '' when none. */
  fairnessKey: string;
  attempt: number;
  /** When it was scheduled (ISO). */
  scheduledAt: string;
  /** Running: the worker identity holding it, and the slot's GPU ids when the activity reports them. */
  worker: string | null;
  gpus: number[] | null;
}

export interface GpuQueueView {
  running: QueueEntry[];
  /** In the order the server will start them. */
  waiting: QueueEntry[];
}

/** Activity types that run on the GPU queue (activities/registry.ts `gpuQueueActivities`). */
const GPU_ACTIVITIES = new Set(['runTrainerSegment', 'generateShard', 'scoreShard', 'writeSmokeCheckpoint']);
const DEFAULT_PRIORITY = 3;

type Ts = { seconds?: unknown; nanos?: number | null } | null | undefined;
function iso(ts: Ts): string {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return new Date(0).toISOString();
  return new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

/** Orders waiting entries as the server serves them: priority, then fairness keys round-robin, each key FIFO. */
export function serveOrder(waiting: readonly QueueEntry[]): QueueEntry[] {
  const out: QueueEntry[] = [];
  const priorities = [...new Set(waiting.map((e) => e.priority))].sort((a, b) => a - b);
  for (const p of priorities) {
    const byKey = new Map<string, QueueEntry[]>();
    for (const e of [...waiting].filter((x) => x.priority === p).sort((a, b) => a.scheduledAt.localeCompare(b.scheduledAt))) {
      const list = byKey.get(e.fairnessKey) ?? [];
      list.push(e);
      byKey.set(e.fairnessKey, list);
    }
    const lanes = [...byKey.values()];
    for (let i = 0; lanes.some((l) => i < l.length); i++) for (const lane of lanes) if (lane[i]) out.push(lane[i] as QueueEntry);
  }
  return out;
}

/** The GPU queue `gpuTaskQueue` now. */
export async function gpuQueueView(client: Client, gpuTaskQueue: string): Promise<GpuQueueView> {
  const running: QueueEntry[] = [];
  const waiting: QueueEntry[] = [];
  const query = `ExecutionStatus = 'Running' AND (WorkflowType = 'trainStage' OR WorkflowType = 'evaluateCheckpoint')`;
  for await (const wf of client.workflow.list({ query })) {
    const desc = await client.workflow
      .getHandle(wf.workflowId, wf.runId)
      .describe()
      .catch(() => null);
    for (const a of desc?.raw.pendingActivities ?? []) {
      const type = a.activityType?.name ?? '';
      const queue = a.activityOptions?.taskQueue?.name;
      if (queue ? queue !== gpuTaskQueue : !GPU_ACTIVITIES.has(type)) continue;
      const started = Number(a.state ?? 0) === 2 || Number(a.state ?? 0) === 3;
      let gpus: number[] | null = null;
      const payload = a.heartbeatDetails?.payloads?.[0];
      if (started && payload) {
        const details = defaultPayloadConverter.fromPayload<{ gpus?: number[] } | undefined>(payload);
        gpus = Array.isArray(details?.gpus) ? details.gpus : null;
      }
      const entry: QueueEntry = {
        workflowId: wf.workflowId,
        activity: type,
        priority: a.priority?.priorityKey || DEFAULT_PRIORITY,
        fairnessKey: a.priority?.fairnessKey ?? '',
        attempt: a.attempt ?? 1,
        scheduledAt: iso(a.scheduledTime),
        worker: started ? a.lastWorkerIdentity || null : null,
        gpus,
      };
      (started ? running : waiting).push(entry);
    }
  }
  return { running: running.sort((a, b) => a.scheduledAt.localeCompare(b.scheduledAt)), waiting: serveOrder(waiting) };
}
