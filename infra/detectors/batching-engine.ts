/**
 * Dynamic batching in front of one ONNX detector session. Callers submit one image at a time (each HTTP request,
 * each trainer rank); the engine decodes in a small bounded pool while the previous batch is in inference, queues
 * the ready tensors, and runs a batch as soon as `maxBatch` tensors are ready or `maxWaitMs` has passed since the
 * oldest one was queued. Only one inference runs at a time per session: a second concurrent `session.run` would
 * only split the same cores and make both slower, while waiting lets the next batch grow.
 *
 * A bad image settles its own promise with an error item; it never reaches the batch, so it can not fail it.
 *
 * Fairness: each submission names its source (one HTTP request); decoding and batch filling take images
 * round-robin by source (lib/fair-queue.ts), so a 5000-image request cannot starve a concurrent 1-image one.
 */
import { performance } from 'node:perf_hooks';
import type { RgbImage } from '../image/decode';
import { FairQueue } from '../../lib/fair-queue';
import type { ScoreResult } from './detector';

/** What the engine needs from a detector; `OnnxDetector` meets it. */
export interface BatchTarget {
  readonly name: string;
  /** Decodes and preprocesses encoded bytes into one CHW tensor; throws for a bad image. */
  preprocess(buf: Buffer): Promise<Float32Array>;
  /** Preprocesses an RGB image already in memory. */
  preprocessRgb(image: RgbImage): Promise<Float32Array>;
  /** P(real) per tensor, in order. */
  inferTensors(tensors: Float32Array[]): Promise<number[]>;
}

export interface BatchingEngineOptions {
  /** Largest batch per inference call. @default 32 */
  maxBatch?: number;
  /** Milliseconds a partial batch waits, counted from when its oldest tensor was queued. @default 5 */
  maxWaitMs?: number;
  /** Images decoded at once (sharp runs them on libuv threads, overlapping with inference). @default 2 */
  decodeConcurrency?: number;
}

/** Counters since the engine started. Times are wall-clock milliseconds summed per image (decode) or per batch. */
export interface BatchingStats {
  /** Items settled: scored or failed. */
  images: number;
  /** Items that settled with an error (bad image, or a failed batch). */
  errors: number;
  batches: number;
  /** `batchSizes[n]` = batches of exactly n tensors; length maxBatch + 1. */
  batchSizes: number[];
  /** Sum of per-image decode + preprocess time, ms (overlapping decodes each count in full). */
  decodeMs: number;
  /** Sum of per-batch inference time, ms. */
  inferenceMs: number;
}

interface DecodeJob {
  source: unknown;
  prepare: () => Promise<Float32Array>;
  settle: (result: ScoreResult) => void;
  fail: (err: Error) => void;
}

interface ReadyItem {
  source: unknown;
  tensor: Float32Array;
  queuedAt: number;
  settle: (result: ScoreResult) => void;
  fail: (err: Error) => void;
}

export class BatchingEngine {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly decodeConcurrency: number;

  private readonly decodeQueue = new FairQueue<DecodeJob>();
  private decoding = 0;
  private readonly ready = new FairQueue<ReadyItem>();
  private inferring = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private outstanding = 0;
  private drained: Array<() => void> = [];
  private readonly counters: BatchingStats;

  constructor(
    readonly target: BatchTarget,
    options: BatchingEngineOptions = {},
  ) {
    this.maxBatch = positiveInt('maxBatch', options.maxBatch ?? 32);
    this.maxWaitMs = options.maxWaitMs ?? 5;
    if (!Number.isFinite(this.maxWaitMs) || this.maxWaitMs < 0)
      throw new Error(`maxWaitMs: expected a number ≥ 0, got ${options.maxWaitMs}`);
    this.decodeConcurrency = positiveInt('decodeConcurrency', options.decodeConcurrency ?? 2);
    this.counters = {
      images: 0,
      errors: 0,
      batches: 0,
      batchSizes: new Array<number>(this.maxBatch + 1).fill(0),
      decodeMs: 0,
      inferenceMs: 0,
    };
  }

  /**
   * Scores one encoded image (JPEG, PNG or WebP, sniffed by content). Rejects only if its batch's inference fails.
   * `source` groups submissions for round-robin fairness (e.g. one object per request); by default each call is
   * its own source.
   */
  submit(buf: Buffer, source: unknown = {}): Promise<ScoreResult> {
    return this.enqueue(() => this.target.preprocess(buf), source);
  }

  /** Scores one RGB image already in memory. */
  submitRgb(image: RgbImage, source: unknown = {}): Promise<ScoreResult> {
    return this.enqueue(() => this.target.preprocessRgb(image), source);
  }

  /** A snapshot of the counters. */
  stats(): BatchingStats {
    return { ...this.counters, batchSizes: [...this.counters.batchSizes] };
  }

  /** Stops taking new images and resolves once every submitted one has settled (partial batches run at once). */
  async close(): Promise<void> {
    this.closed = true;
    this.schedule();
    if (this.outstanding === 0) return;
    await new Promise<void>((resolve) => this.drained.push(resolve));
  }

  private enqueue(prepare: () => Promise<Float32Array>, source: unknown): Promise<ScoreResult> {
    if (this.closed) return Promise.reject(new Error(`${this.target.name}: the batching engine is closed`));
    this.outstanding++;
    return new Promise<ScoreResult>((resolve, reject) => {
      const done = () => {
        this.outstanding--;
        if (this.outstanding === 0) for (const wake of this.drained.splice(0)) wake();
      };
      this.decodeQueue.push(source, {
        source,
        prepare,
        settle: (r) => {
          this.counters.images++;
          if (!r.ok) this.counters.errors++;
          done();
          resolve(r);
        },
        fail: (err) => {
          this.counters.images++;
          this.counters.errors++;
          done();
          reject(err);
        },
      });
      this.startDecodes();
    });
  }

  private startDecodes(): void {
    while (this.decoding < this.decodeConcurrency && this.decodeQueue.length > 0) {
      const job = this.decodeQueue.shift() as DecodeJob;
      this.decoding++;
      const t0 = performance.now();
      job
        .prepare()
        .then(
          (tensor) => {
            this.counters.decodeMs += performance.now() - t0;
            this.ready.push(job.source, {
              source: job.source,
              tensor,
              queuedAt: performance.now(),
              settle: job.settle,
              fail: job.fail,
            });
          },
          (err: unknown) => {
            // Any preprocessing failure is about this image alone (ImageInputError for bad bytes; a resize
            // failure for a degenerate RGB buffer), so it becomes this item's error and nothing else's.
            this.counters.decodeMs += performance.now() - t0;
            job.settle({ ok: false, error: err instanceof Error ? err.message : String(err) });
          },
        )
        .finally(() => {
          this.decoding--;
          this.startDecodes();
          this.schedule();
        });
    }
  }

  /** Runs a batch now if one is due; otherwise arms the timer for the oldest queued tensor's deadline. */
  private schedule(): void {
    if (this.inferring || this.ready.length === 0) return;
    const waited = performance.now() - Math.min(...this.ready.heads().map((r) => r.queuedAt));
    const nothingMoreComing = this.closed && this.decoding === 0 && this.decodeQueue.length === 0;
    if (this.ready.length >= this.maxBatch || waited >= this.maxWaitMs || nothingMoreComing) {
      this.clearTimer();
      void this.runBatch();
      return;
    }
    if (this.timer === null) {
      this.timer = setTimeout(
        () => {
          this.timer = null;
          this.schedule();
        },
        Math.max(0, Math.ceil(this.maxWaitMs - waited)),
      );
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async runBatch(): Promise<void> {
    this.inferring = true;
    const batch: ReadyItem[] = [];
    while (batch.length < this.maxBatch && this.ready.length > 0) batch.push(this.ready.shift() as ReadyItem);
    const t0 = performance.now();
    try {
      const scores = await this.target.inferTensors(batch.map((b) => b.tensor));
      if (scores.length !== batch.length) throw new Error(`expected ${batch.length} scores, got ${scores.length}`);
      this.counters.inferenceMs += performance.now() - t0;
      this.counters.batches++;
      this.counters.batchSizes[batch.length] = (this.counters.batchSizes[batch.length] ?? 0) + 1;
      batch.forEach((item, i) => item.settle({ ok: true, pReal: scores[i] as number }));
    } catch (err) {
      // A failed session.run is not any one image's fault: every caller in the batch learns of it.
      this.counters.inferenceMs += performance.now() - t0;
      const error = new Error(`${this.target.name}: inference failed on a batch of ${batch.length}: ${(err as Error).message}`);
      for (const item of batch) item.fail(error);
    } finally {
      this.inferring = false;
      this.schedule();
    }
  }
}

function positiveInt(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${field}: expected an integer ≥ 1, got ${value}`);
  return value;
}
