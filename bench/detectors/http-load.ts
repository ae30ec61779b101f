/**
 * Load against the reward service over HTTP, as trainer ranks send it: `clients` concurrent loops, each posting
 * `perRequest` base64 images per request until `requests` requests are done in total (or `seconds` pass).
 */
import { performance } from 'node:perf_hooks';
import { quantile } from './timing';

export interface HttpLoadResult {
  requests: number;
  errors: number;
  seconds: number;
  imagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** What the first failed request said (status and body, or the exception), for the log. */
  firstError: string | null;
}

export interface HttpLoad {
  url: string;
  images: string[];
  clients: number;
  perRequest: number;
  /** Stop after this many requests in total. */
  requests?: number;
  /** Stop after this many seconds. */
  seconds?: number;
}

export async function runHttpLoad(load: HttpLoad): Promise<HttpLoadResult> {
  const latencies: number[] = [];
  let started = 0;
  let errors = 0;
  let firstError: string | null = null;
  let next = 0;
  const maxRequests = load.requests ?? Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  const deadline = load.seconds === undefined ? Number.POSITIVE_INFINITY : t0 + load.seconds * 1000;
  await Promise.all(
    Array.from({ length: load.clients }, async () => {
      while (started < maxRequests && performance.now() < deadline) {
        started++;
        const images = Array.from({ length: load.perRequest }, () => load.images[next++ % load.images.length] as string);
        const start = performance.now();
        try {
          const res = await fetch(`${load.url}/v1/score`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ images }),
          });
          const text = await res.text();
          const body = (res.status === 200 ? JSON.parse(text) : {}) as { results?: Array<{ errors?: unknown }> };
          if (res.status !== 200 || body.results?.some((r) => r.errors !== undefined)) {
            errors++;
            firstError ??= `${res.status} ${text.slice(0, 300)}`;
          }
        } catch (err) {
          errors++;
          const cause = (err as { cause?: { code?: string; message?: string } }).cause;
          firstError ??= `${(err as Error).message}${cause === undefined ? '' : ` (${cause.code ?? ''} ${cause.message ?? ''})`}`;
        }
        latencies.push(performance.now() - start);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    seconds,
    imagesPerSecond: (latencies.length * load.perRequest) / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    firstError,
  };
}

export function describeLoad(label: string, r: HttpLoadResult): string {
  return `${label}: requests=${r.requests} errors=${r.errors} in ${r.seconds.toFixed(1)} s, ${r.imagesPerSecond.toFixed(2)} images/s, p50=${r.p50Ms.toFixed(0)}ms p99=${r.p99Ms.toFixed(0)}ms${
    r.firstError === null ? '' : `; first error: ${r.firstError}`
  }`;
}
