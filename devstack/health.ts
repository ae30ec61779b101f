/** Health checks of the two servers, and waiting for them. */
import { spawnSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { TEMPORAL_BIN } from './stack-binaries';

/** MinIO liveness: GET /minio/health/live answers 200. */
export async function minioHealthy(endpoint: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/minio/health/live`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Temporal liveness: the CLI's cluster health call succeeds. */
export function temporalHealthy(address: string): boolean {
  const r = spawnSync(TEMPORAL_BIN, ['operator', 'cluster', 'health', '--address', address, '--command-timeout', '2s'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  return r.status === 0 && /SERVING/.test(r.stdout);
}

/** Polls `check` until it is true or `timeoutMs` passes; the error names the service and its log. */
export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, log: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await delay(200);
  }
  throw new Error(`${what} did not become healthy within ${Math.round(timeoutMs / 1000)} s; see ${log}`);
}
