/** Timing helpers shared by the detector benchmarks. */
import { performance } from 'node:perf_hooks';

/** Reads a positive integer from the environment, or `fallback`; a bad value is an error naming the variable. */
export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

/** Seconds for `passes` runs of `fn`, after one untimed warm-up run (first-run allocations are not what we compare). */
export async function timed(passes: number, fn: () => Promise<void>): Promise<number> {
  await fn();
  const t0 = performance.now();
  for (let p = 0; p < passes; p++) await fn();
  return (performance.now() - t0) / 1000;
}

/**
 * Wall and process CPU seconds (every thread: ORT, libuv, libvips) of `passes` runs of `fn`, after one warm-up run
 * unless `warmUp` is false (the caller warmed up with something cheaper).
 */
export async function timedCpu(
  passes: number,
  fn: () => Promise<void>,
  warmUp = true,
): Promise<{ seconds: number; cpuSeconds: number }> {
  if (warmUp) await fn();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let p = 0; p < passes; p++) await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** The q-quantile of an ascending array (nearest rank). */
export function quantile(sorted: number[], q: number): number {
  return sorted.length === 0
    ? NaN
    : (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number);
}
