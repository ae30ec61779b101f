/**
 * The reward service's counters and their Prometheus text exposition (format 0.0.4): requests by status,
 * images, per-key item errors, per-key batch-size histograms (from the batching engines), decode and inference
 * time, and request latency as a summary with p50/p90/p99 over a sliding window of recent requests.
 */
import type { BatchingStats } from '../../infra/detectors/batching-engine';

/** Requests kept for the latency quantiles; older ones only count in `_sum` and `_count`. */
const LATENCY_WINDOW = 4096;

export class ServiceMetrics {
  private readonly requests = new Map<string, number>();
  private images = 0;
  private readonly itemErrors = new Map<string, number>();
  private readonly latencies = new Float64Array(LATENCY_WINDOW);
  private latencyCount = 0;
  private latencySum = 0;

  /** Counts one finished score request: its status, images, per-key errors and latency in seconds. */
  recordScore(status: number, seconds: number, images = 0, errorsByKey: Record<string, number> = {}): void {
    this.requests.set(String(status), (this.requests.get(String(status)) ?? 0) + 1);
    this.images += images;
    for (const [key, n] of Object.entries(errorsByKey)) this.itemErrors.set(key, (this.itemErrors.get(key) ?? 0) + n);
    this.latencies[this.latencyCount % LATENCY_WINDOW] = seconds;
    this.latencyCount++;
    this.latencySum += seconds;
  }

  /** Latency quantile (0–1) over the window, in seconds; NaN before the first request. */
  quantile(q: number): number {
    const n = Math.min(this.latencyCount, LATENCY_WINDOW);
    if (n === 0) return NaN;
    const sorted = Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b);
    return sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] as number;
  }

  /** Prometheus text for these counters plus the engines' batching stats. */
  render(engines: Record<string, BatchingStats>, keys: string[]): string {
    const lines: string[] = [];
    const head = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    head('realgen_reward_requests_total', 'counter', 'Score requests by HTTP status.');
    for (const [code, n] of [...this.requests].sort()) lines.push(`realgen_reward_requests_total{code="${code}"} ${n}`);
    head('realgen_reward_images_total', 'counter', 'Images received in score requests.');
    lines.push(`realgen_reward_images_total ${this.images}`);
    head('realgen_reward_item_errors_total', 'counter', 'Images a reward key could not score.');
    for (const key of keys) lines.push(`realgen_reward_item_errors_total{key="${label(key)}"} ${this.itemErrors.get(key) ?? 0}`);
    head('realgen_reward_batch_size', 'histogram', 'Images per inference call of each detector.');
    for (const [key, s] of Object.entries(engines)) {
      const bounds = bucketBounds(s.batchSizes.length - 1);
      let cumulative = 0;
      let sum = 0;
      let next = 0;
      s.batchSizes.forEach((count, size) => (sum += count * size));
      for (const le of bounds) {
        while (next <= le && next < s.batchSizes.length) cumulative += s.batchSizes[next++] ?? 0;
        lines.push(`realgen_reward_batch_size_bucket{key="${label(key)}",le="${le}"} ${cumulative}`);
      }
      lines.push(`realgen_reward_batch_size_bucket{key="${label(key)}",le="+Inf"} ${s.batches}`);
      lines.push(
        `realgen_reward_batch_size_sum{key="${label(key)}"} ${sum}`,
        `realgen_reward_batch_size_count{key="${label(key)}"} ${s.batches}`,
      );
    }
    head('realgen_reward_decode_seconds_total', 'counter', 'Decode and preprocess time summed over images.');
    for (const [key, s] of Object.entries(engines))
      lines.push(`realgen_reward_decode_seconds_total{key="${label(key)}"} ${(s.decodeMs / 1000).toFixed(6)}`);
    head('realgen_reward_inference_seconds_total', 'counter', 'Inference time summed over batches.');
    for (const [key, s] of Object.entries(engines))
      lines.push(`realgen_reward_inference_seconds_total{key="${label(key)}"} ${(s.inferenceMs / 1000).toFixed(6)}`);
    head(
      'realgen_reward_request_duration_seconds',
      'summary',
      `Score request latency; quantiles over the last ${LATENCY_WINDOW} requests.`,
    );
    for (const q of [0.5, 0.9, 0.99])
      lines.push(`realgen_reward_request_duration_seconds{quantile="${q}"} ${num(this.quantile(q))}`);
    lines.push(
      `realgen_reward_request_duration_seconds_sum ${num(this.latencySum)}`,
      `realgen_reward_request_duration_seconds_count ${this.latencyCount}`,
    );
    return `${lines.join('\n')}\n`;
  }
}

/** Powers of two up to maxBatch, then maxBatch itself. */
function bucketBounds(maxBatch: number): number[] {
  const out: number[] = [];
  for (let b = 1; b < maxBatch; b *= 2) out.push(b);
  out.push(maxBatch);
  return out;
}

function num(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v.toFixed(6);
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
