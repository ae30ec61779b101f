/**
 * Builds the realgen-mini feature-level reward detector (`models/realgen-mini/detector-spectral.{onnx,json}`):
 * an ONNX graph authored in TypeScript (infra/detectors/spectral-graph.ts) whose logistic head is fitted here, on
 * the reward split's real photos vs fresh generator samples for reward-split captions. Deterministic for a seed.
 * Not run in CI (it samples the generator for minutes). Usage: node --import tsx tools/mini/build-spectral-detector.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildSpectralDetector } from '../../infra/detectors/spectral-graph';
import { decodeToRgb } from '../../infra/image/decode';
import { sampleFlow, toRgb } from '../../domain/mini/flow-sampler';
import { MiniGenerator } from '../../infra/mini/generator';
import { Rng } from '../../lib/random';
import { loadRealBench } from '../../infra/realbench/realbench';
import { fitLogistic, predictLogistic } from '../../domain/stats/logistic';
import { rocAuc } from '../../domain/stats/roc-auc';
import { loadTokenizer } from '../../infra/mini/tokenizer-file';

const repo = path.resolve(__dirname, '..');
const dir = path.join(repo, 'models', 'realgen-mini');
const SIZE = 64;
const BINS = 16;
const SEED = 2024;
const N_FAKE = Number(process.env.REALGEN_SPECTRAL_FAKES ?? 160);
const N_REAL = Number(process.env.REALGEN_SPECTRAL_REALS ?? 320);

/** Detector input for an RGB image at 64×64: x/255 (the manifest's normalisation: mean 0, std 1). */
function tensorOf(rgb: { data: Buffer }): Float32Array {
  const plane = SIZE * SIZE;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) out[c * plane + i] = (rgb.data[i * 3 + c] ?? 0) / 255;
  return out;
}

async function features(session: ort.InferenceSession, tensors: Float32Array[]): Promise<number[][]> {
  const rows: number[][] = [];
  for (let i = 0; i < tensors.length; i += 32) {
    const chunk = tensors.slice(i, i + 32);
    const data = new Float32Array(chunk.length * 3 * SIZE * SIZE);
    chunk.forEach((t, k) => data.set(t, k * t.length));
    const out = await session.run({ image: new ort.Tensor('float32', data, [chunk.length, 3, SIZE, SIZE]) });
    const f = out.features!.data as Float32Array;
    for (let k = 0; k < chunk.length; k++) rows.push(Array.from(f.subarray(k * BINS, (k + 1) * BINS)));
  }
  return rows;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const split = JSON.parse(readFileSync(path.join(dir, 'split.json'), 'utf8')) as { reward: number[] };
  const benchDir = path.resolve(repo, '..', 'shared', 'realbench-data');
  const bench = await loadRealBench(benchDir);
  const byIndex = new Map(bench.items.map((it) => [it.index, it]));
  const rng = Rng.fromSeed(SEED, 'spectral-fit');
  const reward = split.reward.map((i) => byIndex.get(i)!).filter(Boolean);
  // Seeded subsets: reals for the fit, captions for the fakes (disjoint from the held-out 10%).
  const pick = <T>(xs: T[], n: number) => {
    const copy = [...xs];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy.slice(0, n);
  };
  const reals = pick(reward, N_REAL);
  const captions = pick(reward, N_FAKE);

  const realTensors = await Promise.all(
    reals.map(async (it) =>
      tensorOf(
        await decodeToRgb(readFileSync(path.join(benchDir, it.file)), [
          { size: [SIZE, SIZE], mode: 'cover', kernel: 'lanczos3' },
        ]),
      ),
    ),
  );
  const gen = await MiniGenerator.load(path.join(dir, 'generator.json'), { intraOpThreads: 2 });
  const tok = loadTokenizer(path.join(dir, 'tokenizer.json'));
  const fakeTensors: Float32Array[] = [];
  for (let i = 0; i < captions.length; i += 16) {
    const batch = captions.slice(i, i + 16).map((c) => ({ text: c.prompt, category: c.category }));
    const r = await sampleFlow(gen, tok, batch, { rng });
    for (const img of r.images) fakeTensors.push(tensorOf(toRgb(img, SIZE)));
    console.log(`sampled ${fakeTensors.length}/${captions.length} fakes`);
  }
  await gen.close();

  const featureSession = await ort.InferenceSession.create(buildSpectralDetector(SIZE, BINS, null));
  const Xr = await features(featureSession, realTensors);
  const Xf = await features(featureSession, fakeTensors);
  const model = fitLogistic([...Xr, ...Xf], [...Xr.map(() => 1), ...Xf.map(() => 0)], { l2: 1 });
  const trainAuc = rocAuc(
    Xr.map((r) => predictLogistic(model, r)),
    Xf.map((r) => predictLogistic(model, r)),
  );
  const bytes = buildSpectralDetector(SIZE, BINS, { mean: model.mean, std: model.std, weights: model.weights, bias: model.bias });
  writeFileSync(path.join(dir, 'detector-spectral.onnx'), bytes);
  const manifest = {
    name: 'spectral',
    role: 'reward',
    onnx: 'detector-spectral.onnx',
    input: {
      name: 'image',
      size: [SIZE, SIZE],
      layout: 'NCHW',
      colorOrder: 'RGB',
      resize: [{ size: [SIZE, SIZE], mode: 'cover', kernel: 'lanczos3' }],
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
    },
    output: { name: 'logits', kind: 'logits', realIndex: 0 },
    description:
      'Feature-level detector authored in TypeScript: grey → Hann window → 2-D DFT → log power → 16 radial bins → standardise → logistic head (fitted in TypeScript by IRLS).',
    info: {
      builtBy: 'tools/mini/build-spectral-detector.ts',
      seed: SEED,
      bins: BINS,
      trainData: `real: ${reals.length} reward-split photos; fake: ${fakeTensors.length} generator samples (28-step ODE) for reward-split captions`,
      trainAuc,
      iterations: model.iterations,
      buildSeconds: Math.round((Date.now() - t0) / 1000),
    },
  };
  writeFileSync(path.join(dir, 'detector-spectral.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  console.log(
    `detector-spectral: train AUC ${trainAuc.toFixed(3)}, ${bytes.length} bytes, ${Math.round((Date.now() - t0) / 1000)} s`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
