/**
 * The realgen-mini CNN detector side by side (one detector, one thread setting, one run):
 *   (a) bare `session.run` on pre-made tensors at batch B (no decoding at all);
 *   (b) our batching engine from JPEG bytes to scores at maxBatch B, decoding included;
 *   (c) the official one-image-at-a-time design: decode one image, run batch 1, repeat;
 *   decode alone (JPEG → 64×64 tensor, 2 in flight), the other ceiling: the 64×64 CNN costs far less than a decode;
 * then the reward service over HTTP under 4 concurrent clients (3 images per request, as a RealGen trainer rank
 * sends). Its figure of merit is engine / min(decode-only, bare): how close the engine gets to what the slower of
 * the two ceilings allows.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { BatchingEngine } from '../../infra/detectors/batching-engine';
import { readDetectorManifest } from '../../infra/detectors/detector-manifest';
import { mapLimit, OnnxDetector } from '../../infra/detectors/onnx-detector';
import { DataType, encodeModel, floatTensor, type NodeSpec, type TensorSpec } from '../../infra/onnx/onnx-writer';
import { sessionOptions } from '../../infra/onnx/session-options';
import { RewardScorer } from '../../infra/rewards/reward-scorer';
import { RewardService } from '../../services/reward/server';
import { describeLoad, runHttpLoad } from './http-load';
import { envInt, timed, timedCpu } from './timing';

const REPO = path.resolve(__dirname, '..', '..');
const B = envInt('REALGEN_BENCH_BATCH', 32);
const THREADS = envInt('REALGEN_BENCH_THREADS', 1);
const PASSES = envInt('REALGEN_BENCH_PASSES', 2);
const SERVICE_SECONDS = envInt('REALGEN_BENCH_SERVICE_SECONDS', 60, 0);
const CLIENTS = 4;
const PER_REQUEST = 3;

/**
 * A CNN shaped like realgen-mini's DetectorCNN (4 × [3×3 stride-2 conv, SiLU] 3→32→64→128→128, GAP, linear → 2
 * logits; BatchNorm folded into the conv bias), with fixed pseudo-random weights: the same cost, no training.
 */
function writeStandInCnn(dir: string): string {
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  const nodes: NodeSpec[] = [];
  const inits: TensorSpec[] = [];
  let x = 'image';
  let cin = 3;
  [32, 64, 128, 128].forEach((cout, i) => {
    const fan = cin * 9;
    inits.push(
      floatTensor(
        `w${i}`,
        [cout, cin, 3, 3],
        Array.from({ length: cout * fan }, () => rand() * Math.sqrt(12 / fan)),
      ),
    );
    inits.push(
      floatTensor(
        `b${i}`,
        [cout],
        Array.from({ length: cout }, () => rand() * 0.1),
      ),
    );
    nodes.push(
      {
        opType: 'Conv',
        inputs: [x, `w${i}`, `b${i}`],
        outputs: [`c${i}`],
        attributes: {
          kernel_shape: { kind: 'ints', value: [3, 3] },
          strides: { kind: 'ints', value: [2, 2] },
          pads: { kind: 'ints', value: [1, 1, 1, 1] },
        },
      },
      { opType: 'Sigmoid', inputs: [`c${i}`], outputs: [`s${i}`] },
      { opType: 'Mul', inputs: [`c${i}`, `s${i}`], outputs: [`a${i}`] },
    );
    x = `a${i}`;
    cin = cout;
  });
  inits.push(
    floatTensor(
      'wh',
      [cin, 2],
      Array.from({ length: cin * 2 }, () => rand() * 0.2),
    ),
    floatTensor('bh', [2], [0, 0]),
  );
  nodes.push(
    { opType: 'GlobalAveragePool', inputs: [x], outputs: ['gap'] },
    { opType: 'Flatten', inputs: ['gap'], outputs: ['flat'] },
    { opType: 'Gemm', inputs: ['flat', 'wh', 'bh'], outputs: ['logits'] },
  );
  writeFileSync(
    path.join(dir, 'stand-in-cnn.onnx'),
    encodeModel({
      graphName: 'stand-in-cnn',
      opset: 17,
      inputs: [{ name: 'image', dataType: DataType.FLOAT, shape: ['N', 3, 64, 64] }],
      outputs: [{ name: 'logits', dataType: DataType.FLOAT, shape: ['N', 2] }],
      initializers: inits,
      nodes,
    }),
  );
  const file = path.join(dir, 'stand-in-cnn.json');
  writeFileSync(
    file,
    JSON.stringify({
      name: 'stand-in-cnn',
      role: 'reward',
      onnx: 'stand-in-cnn.onnx',
      input: {
        name: 'image',
        size: [64, 64],
        layout: 'NCHW',
        colorOrder: 'RGB',
        resize: [{ size: [64, 64], mode: 'cover' }],
        scale: 1 / 255,
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
      },
      output: { name: 'logits', kind: 'logits', realIndex: 0 },
    }),
  );
  return file;
}

/** The trained realgen-mini detector when it exists and loads, else the stand-in; says which and why. */
async function pickModel(): Promise<{ file: string; detector: OnnxDetector; label: string }> {
  const trained = path.join(REPO, 'models', 'realgen-mini', 'detector-cnn.json');
  const tuning = { intraOpThreads: THREADS, interOpThreads: 1, maxBatch: B };
  if (existsSync(trained)) {
    try {
      return {
        file: trained,
        detector: await OnnxDetector.load(trained, tuning),
        label: `models/realgen-mini/detector-cnn.json (trained)`,
      };
    } catch (err) {
      console.log(`note: ${trained} does not load (${(err as Error).message}); using the stand-in CNN`);
    }
  }
  const file = writeStandInCnn(mkdtempSync(path.join(os.tmpdir(), 'realgen-bench-')));
  return {
    file,
    detector: await OnnxDetector.load(file, tuning),
    label: 'stand-in CNN (DetectorCNN shape, untrained; models/realgen-mini/detector-cnn.json absent)',
  };
}

/** The mini CNN's figures; `ratioVsLimit` = engine / min(decode-only, bare). */
export interface MiniCnnResult {
  bareRate: number;
  engineRate: number;
  singleRate: number;
  decodeRate: number;
  ratioVsLimit: number;
}

export async function benchMiniCnn(jpegs: Buffer[]): Promise<MiniCnnResult> {
  const N = jpegs.length;
  const { file, detector, label } = await pickModel();
  console.log(`== mini: ${label}`);
  console.log(`batch B=${B}; ORT intra-op threads=${THREADS}; ${PASSES} timed passes after 1 warm-up`);

  // (a) bare session.run on pre-made tensors (tensors made outside the timing).
  const tensors = await mapLimit(jpegs, 2, (buf) => detector.preprocess(buf));
  const { manifest, onnxPath } = readDetectorManifest(file);
  const bare = await ort.InferenceSession.create(
    onnxPath,
    sessionOptions({ intraOpThreads: THREADS, interOpThreads: 1 }).options,
  );
  const [h, w] = manifest.input.size;
  const per = 3 * h * w;
  const batches: ort.Tensor[] = [];
  for (let s = 0; s < N; s += B) {
    const chunk = tensors.slice(s, s + B);
    const data = new Float32Array(chunk.length * per);
    chunk.forEach((t, i) => data.set(t, i * per));
    batches.push(new ort.Tensor('float32', data, [chunk.length, 3, h, w]));
  }
  const { seconds: bareSeconds, cpuSeconds: bareCpu } = await timedCpu(PASSES, async () => {
    for (const t of batches) await bare.run({ [manifest.input.name]: t });
  });
  await bare.release();
  const bareRate = (N * PASSES) / bareSeconds;
  console.log(`(a) bare session.run, batch ${B}, pre-made tensors: ${bareRate.toFixed(1)} images/s`);

  // Decode alone, for the explanation: what the JPEG → 64×64 tensor path can do on its own with 2 in flight.
  const { seconds: decodeSeconds, cpuSeconds: decodeCpu } = await timedCpu(PASSES, async () => {
    await mapLimit(jpegs, 2, (buf) => detector.preprocess(buf));
  });
  const decodeRate = (N * PASSES) / decodeSeconds;

  // (b) our engine: JPEG bytes → scores, decoding included.
  let engineStats = new BatchingEngine(detector).stats();
  const { seconds: engineSeconds, cpuSeconds: engineCpu } = await timedCpu(PASSES, async () => {
    const engine = new BatchingEngine(detector, { maxBatch: B, maxWaitMs: 5, decodeConcurrency: 2 });
    const results = await Promise.all(jpegs.map((buf) => engine.submit(buf)));
    await engine.close();
    const bad = results.filter((r) => !r.ok).length;
    if (bad > 0) throw new Error(`engine: ${bad} images failed`);
    engineStats = engine.stats();
  });
  const engineRate = (N * PASSES) / engineSeconds;
  const sizes = engineStats.batchSizes
    .map((n, size) => (n > 0 ? `${size}×${n}` : ''))
    .filter(Boolean)
    .join(' ');
  console.log(
    `(b) batching engine, maxBatch ${B}, JPEG → score: ${engineRate.toFixed(1)} images/s (last pass: batches ${sizes}; decode ${(engineStats.decodeMs / N).toFixed(2)} ms/image summed over 2 in flight, inference ${(engineStats.inferenceMs / N).toFixed(2)} ms/image)`,
  );

  // (c) the official design: one image at a time.
  const singleSeconds = await timed(PASSES, async () => {
    for (const buf of jpegs) await detector.inferTensors([await detector.preprocess(buf)]);
  });
  const singleRate = (N * PASSES) / singleSeconds;
  console.log(`(c) one image at a time (decode 1, run batch 1): ${singleRate.toFixed(1)} images/s`);
  console.log(
    `    decode only (JPEG → 64×64 tensor, 2 in flight): ${decodeRate.toFixed(1)} images/s; inference alone at batch ${B}: ${bareRate.toFixed(1)} images/s`,
  );

  // The reward service over HTTP: 4 clients, 3 images per request, JSON + base64.
  if (SERVICE_SECONDS > 0) {
    const scorer = new RewardScorer({
      detectors: [{ key: detector.name, detector }],
      engine: { maxBatch: B, maxWaitMs: 5, decodeConcurrency: 2 },
    });
    const service = new RewardService({ scorer, log: () => {} });
    const { url } = await service.listen('127.0.0.1', 0);
    const load = await runHttpLoad({
      url,
      images: jpegs.map((b) => b.toString('base64')),
      clients: CLIENTS,
      perRequest: PER_REQUEST,
      seconds: SERVICE_SECONDS,
    });
    const served = scorer.engineStats()[detector.name];
    await service.close();
    await scorer.close();
    const mean = served && served.batches > 0 ? served.images / served.batches : 0;
    console.log(
      `${describeLoad(`service, ${CLIENTS} clients × ${PER_REQUEST} images/request`, load)}, mean_batch=${mean.toFixed(1)}`,
    );
  } else {
    await detector.close();
    console.log('service: skipped (REALGEN_BENCH_SERVICE_SECONDS=0)');
  }
  const ratioVsLimit = engineRate / Math.min(decodeRate, bareRate);
  // The engine must decode and infer on the same cores; their CPU costs add up. Measured per image in this run:
  const ms = (cpu: number) => (cpu * 1000) / (N * PASSES);
  const cpuCores = os.cpus().length;
  const sharedCeiling = Math.min(decodeRate, bareRate, cpuCores / ((decodeCpu + bareCpu) / (N * PASSES)));
  console.log(
    `mini: CPU per image (all threads): decode ${ms(decodeCpu).toFixed(2)} ms, inference ${ms(bareCpu).toFixed(2)} ms, ` +
      `engine ${ms(engineCpu).toFixed(2)} ms (engine overhead ${(engineCpu / (decodeCpu + bareCpu)).toFixed(3)}×); ` +
      `this process got ${(decodeCpu / decodeSeconds).toFixed(2)} cores decoding, ${(engineCpu / engineSeconds).toFixed(2)} in the engine; ` +
      `ceiling with decode + inference sharing ${cpuCores} cores = ${sharedCeiling.toFixed(1)} images/s, engine reaches ` +
      `${(engineRate / sharedCeiling).toFixed(3)} of it`,
  );
  console.log(
    `mini: engine / min(decode-only, bare) = ${ratioVsLimit.toFixed(3)}; engine / bare = ${(engineRate / bareRate).toFixed(3)}; engine / single = ${(engineRate / singleRate).toFixed(3)}`,
  );
  return { bareRate, engineRate, singleRate, decodeRate, ratioVsLimit };
}
