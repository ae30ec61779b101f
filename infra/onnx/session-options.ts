/**
 * ONNX Runtime session options shared by detectors and the generator: explicit thread counts (reproducible results
 * and no oversubscription when several sessions share a node), full graph optimisation, and the CUDA execution
 * provider when its binaries are installed, CPU otherwise.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';

export interface SessionTuning {
  /** Threads inside one operator. @default 1 */
  intraOpThreads?: number;
  /** Threads across independent operators. @default 1 */
  interOpThreads?: number;
  /** `cuda` asks for the CUDA provider (falls back to CPU when absent), `cpu` forces CPU. @default auto */
  device?: 'auto' | 'cuda' | 'cpu';
}

/** True when onnxruntime-node's CUDA provider library is present (its installer fetches it separately). */
export function cudaProviderInstalled(): boolean {
  try {
    const root = path.dirname(require.resolve('onnxruntime-node/package.json'));
    const binDir = path.join(root, 'bin');
    const walk = (dir: string): boolean =>
      readdirSync(dir, { withFileTypes: true }).some((e) =>
        e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.startsWith('libonnxruntime_providers_cuda'),
      );
    return existsSync(binDir) && walk(binDir);
  } catch {
    return false;
  }
}

/**
 * Session options and the provider that will be used. Also turns off onnxruntime's telemetry (ORT ≥ 1.2x on Linux
 * starts Microsoft's 1DS telemetry client, which leaves an empty /tmp/mat-debug-<pid>.log in every process); the
 * variable is read when the first session creates the ORT environment, and child processes inherit it.
 */
export function sessionOptions(tuning: SessionTuning = {}): {
  options: InferenceSession.SessionOptions;
  provider: 'cuda' | 'cpu';
} {
  process.env.ORT_DISABLE_TELEMETRY = '1';
  const wantCuda = tuning.device === 'cuda' || (tuning.device !== 'cpu' && process.env.REALGEN_ORT_DEVICE === 'cuda');
  const provider = wantCuda && cudaProviderInstalled() ? 'cuda' : 'cpu';
  return {
    provider,
    options: {
      intraOpNumThreads: tuning.intraOpThreads ?? 1,
      interOpNumThreads: tuning.interOpThreads ?? 1,
      graphOptimizationLevel: 'all',
      executionProviders: provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    },
  };
}
