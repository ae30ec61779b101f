/**
 * `npm run bench:detectors [-- --model mini|vit|all]`: the detector engine measured side by side in one run, on the
 * realgen-mini CNN (bench/detectors/mini-cnn.ts) and on a detector with the compute of a CLIP ViT
 * (bench/detectors/vit.ts). Last line: `vit_ratio_vs_bare=… vit_ratio_vs_single_http=… mini_ratio_vs_limit=…`
 * (a model left out prints `na`).
 *
 * Env: REALGEN_BENCH_IMAGES (mini, default 256), REALGEN_BENCH_VIT_IMAGES (default 32), REALGEN_BENCH_BATCH (mini B,
 * default 32), REALGEN_BENCH_THREADS (mini ORT threads, default 1), REALGEN_BENCH_VIT_THREADS (default: all CPUs),
 * REALGEN_BENCH_VIT_PRESET (vit-b16-224 | vit-l14-336), REALGEN_BENCH_VIT_ROUNDS (default 2), REALGEN_BENCH_PASSES (default 2),
 * REALGEN_BENCH_SERVICE_SECONDS (default 60), REALGEN_BENCH_IMAGES_DIR (default: the RealBench images beside the
 * checkout). The ViT graph (≈340 MB) is built once into bench/out/models/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchMiniCnn, type MiniCnnResult } from './detectors/mini-cnn';
import { envInt } from './detectors/timing';
import { benchVit, type VitResult } from './detectors/vit';

const REPO = path.resolve(__dirname, '..');
const IMAGES_DIR = process.env.REALGEN_BENCH_IMAGES_DIR ?? path.resolve(REPO, '..', 'shared', 'realbench-data', 'images');

function readJpegs(n: number): Buffer[] {
  const files = readdirSync(IMAGES_DIR)
    .filter((f) => /\.(jpe?g)$/i.test(f))
    .sort()
    .slice(0, n);
  if (files.length < n) throw new Error(`${IMAGES_DIR}: expected ${n} JPEG files, found ${files.length}`);
  return files.map((f) => readFileSync(path.join(IMAGES_DIR, f)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string', default: 'all' } } });
  const model = values.model as string;
  if (!['mini', 'vit', 'all'].includes(model))
    throw new Error(`--model: expected mini, vit or all, got ${JSON.stringify(model)}`);
  console.log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}); images from ${IMAGES_DIR}`);
  let mini: MiniCnnResult | null = null;
  let vit: VitResult | null = null;
  if (model !== 'vit') mini = await benchMiniCnn(readJpegs(envInt('REALGEN_BENCH_IMAGES', 256)));
  if (model !== 'mini') vit = await benchVit(readJpegs(envInt('REALGEN_BENCH_VIT_IMAGES', 32)), path.join(REPO, 'bench', 'out'));
  const fmt = (v: number | undefined) => (v === undefined ? 'na' : v.toFixed(3));
  console.log(
    `vit_ratio_vs_bare=${fmt(vit?.ratioVsBare)} vit_ratio_vs_single_http=${fmt(vit?.ratioVsSingleHttp)} mini_ratio_vs_limit=${fmt(mini?.ratioVsLimit)}`,
  );
}

main().catch((err: unknown) => {
  console.error(`bench:detectors: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
