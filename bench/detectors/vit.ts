/**
 * The detector engine at production cost: a detector with the compute of a CLIP ViT (tools/detectors/vit-graph.ts;
 * ViT-B/16 at 224 px on a CPU, ViT-L/14 at 336 px on a GPU; random weights, since cost is what is measured), side by
 * side in one run:
 *   (a) bare `session.run` at the best batch on pre-made tensors (the ceiling);
 *   (b) our batching engine from JPEG files with concurrent clients (every image submitted at once);
 *   (c) the upstream design: one image per HTTP request to the reward service, requests in sequence;
 *   (d) the reward service under 8 concurrent clients, one image per request.
 * Goals: (b)/(a) ≥ 0.85 and (d)/(c) ≥ 3. What batching can add at all is bounded by bare(best batch)/bare(batch 1),
 * printed beside the ratios.
 */
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { BatchingEngine } from '../../infra/detectors/batching-engine';
import { readDetectorManifest } from '../../infra/detectors/detector-manifest';
import { mapLimit, OnnxDetector } from '../../infra/detectors/onnx-detector';
import { sessionOptions } from '../../infra/onnx/session-options';
import { RewardScorer } from '../../infra/rewards/reward-scorer';
import { RewardService } from '../../services/reward/server';
import { buildVitDetector } from '../../tools/detectors/build-vit-detector';
import { vitCost, VIT_PRESETS, type VitPreset } from '../../tools/detectors/vit-graph';
import { describeLoad, runHttpLoad } from './http-load';
import { envInt, timed } from './timing';

const PRESET = (process.env.REALGEN_BENCH_VIT_PRESET ?? 'vit-b16-224') as VitPreset;
const THREADS = envInt('REALGEN_BENCH_VIT_THREADS', os.cpus().length);
const BATCHES = [1, 2, 4, 8, 16];
const CLIENTS = 8;

export interface VitResult {
  bestBatch: number;
  bareRate: number;
  bareBatch1Rate: number;
  engineRate: number;
  singleHttpRate: number;
  concurrentHttpRate: number;
  ratioVsBare: number;
  ratioVsSingleHttp: number;
}

export async function benchVit(jpegs: Buffer[], outDir: string): Promise<VitResult> {
  if (!(PRESET in VIT_PRESETS))
    throw new Error(`REALGEN_BENCH_VIT_PRESET: expected one of ${Object.keys(VIT_PRESETS).join(', ')}, got ${PRESET}`);
  const N = jpegs.length;
  const shape = VIT_PRESETS[PRESET];
  const { params, macsPerImage } = vitCost(shape);
  const manifestFile = buildVitDetector(PRESET, path.join(outDir, 'models'));
  console.log(
    `== vit: ${PRESET} (random weights; ${(params / 1e6).toFixed(1)} M parameters, ${(macsPerImage / 1e9).toFixed(1)} GMAC/image); ` +
      `ORT intra-op threads=${THREADS}; ${N} JPEGs`,
  );
  const { manifest, onnxPath } = readDetectorManifest(manifestFile);
  const size = shape.size;
  const per = 3 * size * size;

  // (a) bare session.run on pre-made tensors, at every batch size; the best one is the ceiling.
  const tuning = { intraOpThreads: THREADS, interOpThreads: 1 };
  const bare = await ort.InferenceSession.create(onnxPath, sessionOptions(tuning).options);
  const probe = await OnnxDetector.load(manifestFile, { ...tuning, maxBatch: 16 });
  const tensors = await mapLimit(jpegs, 2, (buf) => probe.preprocess(buf));
  await probe.close();
  const rates = new Map<number, number>();
  for (const b of BATCHES) {
    if (b > N) break;
    const data = new Float32Array(b * per);
    for (let i = 0; i < b; i++) data.set(tensors[i] as Float32Array, i * per);
    const input = new ort.Tensor('float32', data, [b, 3, size, size]);
    const runs = Math.max(1, Math.floor(N / b));
    const seconds = await timed(1, async () => {
      for (let r = 0; r < runs; r++) await bare.run({ [manifest.input.name]: input });
    });
    rates.set(b, (runs * b) / seconds);
    console.log(`(a) bare session.run, batch ${b}: ${(rates.get(b) as number).toFixed(2)} images/s`);
  }
  await bare.release();
  const [bestBatch, bareRate] = [...rates.entries()].reduce((best, e) => (e[1] > best[1] ? e : best));
  const bareBatch1Rate = rates.get(1) as number;

  // (b) the engine from JPEG bytes, every image submitted at once (concurrent clients), maxBatch = the best batch.
  const detector = await OnnxDetector.load(manifestFile, { ...tuning, maxBatch: bestBatch });
  const engineSeconds = await timed(1, async () => {
    const engine = new BatchingEngine(detector, { maxBatch: bestBatch, maxWaitMs: 20, decodeConcurrency: 2 });
    const results = await Promise.all(jpegs.map((buf) => engine.submit(buf)));
    await engine.close();
    if (results.some((r) => !r.ok)) throw new Error('vit engine: some images failed');
  });
  const engineRate = N / engineSeconds;
  console.log(
    `(b) batching engine, maxBatch ${bestBatch}, JPEG → score, ${N} submitted at once: ${engineRate.toFixed(2)} images/s`,
  );

  // (c) and (d): the reward service over HTTP, one image per request.
  const scorer = new RewardScorer({
    detectors: [{ key: detector.name, detector }],
    engine: { maxBatch: bestBatch, maxWaitMs: 20, decodeConcurrency: 2 },
  });
  const service = new RewardService({ scorer, log: () => {} });
  const { url } = await service.listen('127.0.0.1', 0);
  const images = jpegs.map((b) => b.toString('base64'));
  await runHttpLoad({ url, images, clients: 1, perRequest: 1, requests: 2 }); // warm-up
  const single = await runHttpLoad({ url, images, clients: 1, perRequest: 1, requests: N });
  console.log(describeLoad('(c) upstream design: 1 image per request, in sequence', single));
  const concurrent = await runHttpLoad({ url, images, clients: CLIENTS, perRequest: 1, requests: 2 * N });
  console.log(describeLoad(`(d) service, ${CLIENTS} concurrent clients, 1 image per request`, concurrent));
  await service.close();
  await scorer.close();

  const result: VitResult = {
    bestBatch,
    bareRate,
    bareBatch1Rate,
    engineRate,
    singleHttpRate: single.imagesPerSecond,
    concurrentHttpRate: concurrent.imagesPerSecond,
    ratioVsBare: engineRate / bareRate,
    ratioVsSingleHttp: concurrent.imagesPerSecond / single.imagesPerSecond,
  };
  console.log(
    `vit: (b)/(a) = ${result.ratioVsBare.toFixed(3)} (goal ≥ 0.85); (d)/(c) = ${result.ratioVsSingleHttp.toFixed(3)} (goal ≥ 3); ` +
      `batching headroom bare(batch ${bestBatch})/bare(batch 1) = ${(bareRate / bareBatch1Rate).toFixed(3)}`,
  );
  return result;
}
