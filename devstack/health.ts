/** Health checks of the two servers, and waiting for them. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** The last `n` non-empty lines of a log file ('' when unreadable). */
export function logTail(file: string, n = 5): string {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-n)
      .join('\n');
  } catch {
    return '';
  }
}

/**
 * Polls `check` until it is true or `timeoutMs` passes. When `alive` says the server process has exited, fails at
 * once instead of waiting out the timeout. Either error names the service and its log, with the log's last lines.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  log: string,
  alive: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const tail = () => {
    const t = logTail(log);
    return t === '' ? '' : `; last lines:\n${t}`;
  };
  while (Date.now() < deadline) {
    if (await check()) return;
    if (!alive()) throw new Error(`${what} exited before it became healthy; see ${log}${tail()}`);
    await delay(200);
  }
  throw new Error(`${what} did not become healthy within ${Math.round(timeoutMs / 1000)} s; see ${log}${tail()}`);
}
