import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { BatchingEngine, type BatchTarget } from '../../../infra/detectors/batching-engine';
import { OnnxDetector } from '../../../infra/detectors/onnx-detector';
import { writeTinyDetector } from '../../helpers/tiny-detector';

const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-batch-'));
let detector: OnnxDetector;
let images: Buffer[];

/** Wraps a target to record batch sizes and how many inferences overlapped. */
function instrumented(target: BatchTarget): BatchTarget & { sizes: number[]; maxInFlight: number } {
  let inFlight = 0;
  const probe = {
    name: target.name,
    sizes: [] as number[],
    maxInFlight: 0,
    preprocess: (buf: Buffer) => target.preprocess(buf),
    preprocessRgb: (img: Parameters<BatchTarget['preprocessRgb']>[0]) => target.preprocessRgb(img),
    async inferTensors(tensors: Float32Array[]) {
      inFlight++;
      probe.maxInFlight = Math.max(probe.maxInFlight, inFlight);
      probe.sizes.push(tensors.length);
      try {
        return await target.inferTensors(tensors);
      } finally {
        inFlight--;
      }
    },
  };
  return probe;
}

describe('batching engine', () => {
  before(async () => {
    detector = await OnnxDetector.load(writeTinyDetector(dir, { size: 16 }));
    images = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const px = Buffer.alloc(24 * 20 * 3);
        for (let j = 0; j < px.length; j++) px[j] = (j * 31 + i * 97) % 256;
        return sharp(px, { raw: { width: 24, height: 20, channels: 3 } })
          .png()
          .toBuffer();
      }),
    );
  });
  after(async () => {
    await detector.close();
  });

  it('batches concurrent submits, never above maxBatch, one inference at a time', async () => {
    const probe = instrumented(detector);
    // A long wait: every batch here is formed by reaching maxBatch, so the sizes are deterministic.
    const engine = new BatchingEngine(probe, { maxBatch: 8, maxWaitMs: 10_000 });
    const results = await Promise.all(images.map((img) => engine.submit(img)));
    assert.equal(results.length, 40);
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual(probe.sizes, [8, 8, 8, 8, 8]);
    assert.equal(probe.maxInFlight, 1);
    const stats = engine.stats();
    assert.equal(stats.images, 40);
    assert.equal(stats.batches, 5);
    assert.equal(stats.batchSizes[8], 5);
    assert.equal(stats.batchSizes.length, 9);
    assert.ok(stats.decodeMs > 0 && stats.inferenceMs > 0);
    await engine.close();
  });

  it('keeps batches within maxBatch when the batch fills by time and by size', async () => {
    const probe = instrumented(detector);
    // 40 = 6 × 6 + 4: full batches form by size, the last 4 by time (50 ms is far above one decode, even on a busy box).
    const engine = new BatchingEngine(probe, { maxBatch: 6, maxWaitMs: 50 });
    const results = await Promise.all(images.map((img) => engine.submit(img)));
    assert.ok(results.every((r) => r.ok));
    assert.equal(
      probe.sizes.reduce((a, b) => a + b, 0),
      40,
    );
    assert.ok(
      probe.sizes.every((n) => n >= 1 && n <= 6),
      `sizes ${probe.sizes.join(',')}`,
    );
    assert.ok(
      probe.sizes.some((n) => n > 1),
      `expected some batch above 1, got ${probe.sizes.join(',')}`,
    );
    assert.equal(probe.maxInFlight, 1);
    await engine.close();
  });

  it('gives exactly the scores of the unbatched detector', async () => {
    const engine = new BatchingEngine(detector, { maxBatch: 7, maxWaitMs: 1 });
    const batched = await Promise.all(images.map((img) => engine.submit(img)));
    const whole = await detector.scoreEncoded(images);
    const single: unknown[] = [];
    for (const img of images) single.push(...(await detector.scoreEncoded([img])));
    assert.deepEqual(batched, whole);
    assert.deepEqual(batched, single);
    const rgb = { data: Buffer.alloc(16 * 16 * 3, 200), width: 16, height: 16 };
    assert.deepEqual(await engine.submitRgb(rgb), (await detector.scoreRgb([rgb]))[0]);
    await engine.close();
  });

  it('turns a bad image into an error for that item only', async () => {
    const probe = instrumented(detector);
    const engine = new BatchingEngine(probe, { maxBatch: 8, maxWaitMs: 10_000 });
    const inputs = [...images.slice(0, 4), Buffer.from('not an image'), ...images.slice(4, 8), Buffer.alloc(0)];
    const pending = inputs.map((img) => engine.submit(img));
    await engine.close(); // the 8 good ones fill one batch; close would flush a remainder
    const results = await Promise.all(pending);
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true, true, false, true, true, true, true, false],
    );
    const bad = results[4];
    assert.ok(bad && !bad.ok);
    assert.match(bad.error, /not a JPEG, PNG or WebP image/);
    const empty = results[9];
    assert.ok(empty && !empty.ok);
    assert.match(empty.error, /empty file/);
    assert.deepEqual(probe.sizes, [8]);
    assert.deepEqual(
      results.filter((r) => r.ok),
      await detector.scoreEncoded([...images.slice(0, 8)]),
    );
    assert.equal(engine.stats().errors, 2);
  });

  it('flushes a lone image once maxWaitMs has passed', async () => {
    const probe = instrumented(detector);
    const engine = new BatchingEngine(probe, { maxBatch: 32, maxWaitMs: 30 });
    const t0 = performance.now();
    const result = await engine.submit(images[0] as Buffer);
    const elapsed = performance.now() - t0;
    assert.equal(result.ok, true);
    assert.deepEqual(probe.sizes, [1]);
    assert.ok(elapsed >= 29, `flushed after ${elapsed.toFixed(1)} ms; expected to wait about maxWaitMs`);
    await engine.close();
  });

  it('drains on close and refuses later submits', async () => {
    const engine = new BatchingEngine(detector, { maxBatch: 32, maxWaitMs: 60_000 });
    const pending = images.slice(0, 3).map((img) => engine.submit(img));
    await engine.close();
    assert.equal((await Promise.all(pending)).length, 3);
    assert.equal(engine.stats().images, 3);
    await assert.rejects(engine.submit(images[0] as Buffer), /batching engine is closed/);
  });

  it('rejects every item of a batch whose inference fails', async () => {
    const failing: BatchTarget = {
      name: 'broken',
      preprocess: (buf) => detector.preprocess(buf),
      preprocessRgb: (img) => detector.preprocessRgb(img),
      inferTensors: () => Promise.reject(new Error('session lost')),
    };
    const engine = new BatchingEngine(failing, { maxBatch: 2, maxWaitMs: 10_000 });
    const results = await Promise.allSettled(images.slice(0, 2).map((img) => engine.submit(img)));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.match(String((r as PromiseRejectedResult).reason), /broken: inference failed on a batch of 2: session lost/);
    }
    await engine.close();
  });

  it('refuses bad options with the field name', () => {
    assert.throws(() => new BatchingEngine(detector, { maxBatch: 0 }), /maxBatch: expected an integer ≥ 1, got 0/);
    assert.throws(() => new BatchingEngine(detector, { maxWaitMs: -1 }), /maxWaitMs: expected a number ≥ 0/);
  });
});
