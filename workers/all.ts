/** Both worker classes in one process: the embedded realgen-mini setup (`npm run demo`). */
import { runWorkerMain } from './run-worker';

runWorkerMain(['cpu', 'gpu']).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
