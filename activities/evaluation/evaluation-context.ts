/** What every evaluation activity is built from: its dependencies and the worker's shared caches. */
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import type { GpuPool } from '../training/gpu-pool';
import { createEvaluationCaches, type EvaluationCaches, type EvaluationLoaders } from './evaluation-caches';

export interface EvaluationActivityDeps extends EvaluationLoaders {
  /** Called with the number of images each generator call produced (tests count recomputation with it). */
  onGeneratorCall?: (n: number) => void;
  /** Images per generator batch. @default 8 */
  generateBatch?: number;
  /** `fetch` for the OpenAI-compatible judge (tests). */
  fetchImpl?: typeof fetch;
  /**
   * The GPU worker's slots (shared with the trainers): the torch sampler runs on a slot's GPUs. Without it the sampler
   * uses CUDA when the config lists GPUs, else the CPU.
   */
  gpuPool?: GpuPool;
}

export interface EvaluationContext {
  deps: EvaluationActivityDeps;
  store: CheckpointStore;
  caches: EvaluationCaches;
}

export function createEvaluationContext(deps: EvaluationActivityDeps): EvaluationContext {
  return { deps, store: deps.store, caches: createEvaluationCaches(deps) };
}
