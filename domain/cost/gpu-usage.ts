/** GPU-hours and their cost, as the CLI, reports and notifications show them. */

/** GPU-hours of `gpuSeconds`. */
export function gpuHours(gpuSeconds: number): number {
  return gpuSeconds / 3600;
}

/** `0.0123 GPU-h` or `0.0123 GPU-h (0.03 at 2.5/GPU-h)` when a price per GPU-hour is configured. */
export function describeGpuUsage(gpuSeconds: number | null | undefined, costPerGpuHour?: number): string {
  if (gpuSeconds === null || gpuSeconds === undefined) return '-';
  const hours = gpuHours(gpuSeconds);
  const shown = hours >= 10 ? hours.toFixed(1) : hours.toPrecision(3);
  if (costPerGpuHour === undefined) return `${shown} GPU-h`;
  return `${shown} GPU-h (${(hours * costPerGpuHour).toFixed(2)} at ${costPerGpuHour}/GPU-h)`;
}
