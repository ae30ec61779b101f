/**
 * Where a run's GPU work stands in the GPU task queue: Temporal task-queue priority (1 served first … 5 last) and a
 * fairness key, so slots are shared round-robin between runs (and evaluations) of equal priority. The embedded dev
 * server is started with the dynamic config that makes the server honour both (devstack/dev-stack.ts).
 */
import type { Priority } from '@temporalio/common';

/** The server refuses longer fairness keys ("fairness key length exceeds limit"). */
export const FAIRNESS_KEY_MAX = 64;

/** FNV-1a 32-bit of `s`, hex (deterministic: workflow code calls this). */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** `key` itself when short enough, else its first characters and a hash of the whole (still one key per run). */
export function fairnessKeyOf(key: string): string {
  return key.length <= FAIRNESS_KEY_MAX ? key : `${key.slice(0, FAIRNESS_KEY_MAX - 9)}~${fnv1a(key)}`;
}

/** The priority of GPU activities of a run with `config`; undefined for configs of runs started before priorities. */
export function gpuPriority(config: { priority?: number }, fairnessKey: string): Priority | undefined {
  if (config.priority === undefined) return undefined;
  return { priorityKey: config.priority, fairnessKey: fairnessKeyOf(fairnessKey) };
}
