/** CPU worker process: workflows plus CPU activities. Usage: `node --import tsx workers/cpu.ts --config FILE`. */
import { runWorkerMain } from './run-worker';

runWorkerMain(['cpu']).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
