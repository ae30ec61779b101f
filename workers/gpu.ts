/** GPU worker process: trainers and GPU activities. Usage: `node --import tsx workers/gpu.ts --config FILE --gpus 0,1`. */
import { runWorkerMain } from './run-worker';

runWorkerMain(['gpu']).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
