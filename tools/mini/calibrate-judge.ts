/**
 * Calibrates the local arena judge's temperature (`evaluation.judge.temperature`) for a config: the base generator
 * draws the held-out suite exactly as an evaluation does (the generator's default steps, the config's seed), the
 * judge's detector scores those images and their real photos, and the temperature at which the base generator's
 * expected win rate against the real photos is the target (default 25%) is printed, with the expected win rate at
 * the config's current temperature.
 *
 *   node --import tsx tools/mini/calibrate-judge.ts [-c configs/mini.yaml] [--target 0.25] [--suite heldout]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../configs/load';
import { calibrateTemperature, expectedWinRate } from '../../domain/arena/calibrated-judge';
import { OnnxDetector } from '../../infra/detectors/onnx-detector';
import { generateWithCheckpoint } from '../../infra/mini/checkpoint-generator';
import { configPath, loadGenerator } from '../../infra/mini/mini-world';
import { loadRealBench, selectSuite, type RealBenchSuite } from '../../infra/realbench/realbench';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c', default: path.resolve(__dirname, '..', '..', 'configs', 'mini.yaml') },
      target: { type: 'string', default: '0.25' },
      suite: { type: 'string', default: 'heldout' },
    },
  });
  const loaded = loadConfig(values.config);
  const { config } = loaded;
  const judge = config.evaluation.judge;
  if (judge.backend !== 'local') throw new Error(`${loaded.file}: evaluation.judge.backend is ${judge.backend}, not local`);
  const ref = config.evaluation.detectors.find((d) => d.name === judge.detector);
  if (!ref) throw new Error(`${loaded.file}: evaluation.judge.detector ${judge.detector} is not an evaluation detector`);
  const target = Number(values.target);
  const tuning = { intraOpThreads: 1, interOpThreads: 1, device: 'cpu' as const };
  const { generator, tokenizer } = await loadGenerator(loaded, tuning);
  const detector = await OnnxDetector.load(configPath(loaded, ref.manifest), { ...tuning, maxBatch: 64 });
  const dir = configPath(loaded, config.realbench.source.dir!);
  const items = selectSuite((await loadRealBench(dir)).items, values.suite as RealBenchSuite);
  const parts = { policy: null, adapter: null };
  const generated: number[] = [];
  for (let i = 0; i < items.length; i += 16) {
    const batch = items.slice(i, i + 16).map((it) => ({ id: it.id, prompt: it.prompt, category: it.category }));
    const images = await generateWithCheckpoint(generator, tokenizer, parts, batch, { seed: config.seed });
    generated.push(...(await detector.scoreRgb(images.map((x) => x.image))).map((r) => (r.ok ? r.pReal : NaN)));
    process.stderr.write(`\rgenerated and scored ${generated.length}/${items.length}`);
  }
  process.stderr.write('\n');
  const real = (await detector.scoreEncoded(items.map((it) => readFileSync(path.join(dir, it.file))))).map((r) =>
    r.ok ? r.pReal : NaN,
  );
  const pairs = generated.map((a, i) => ({ a, b: real[i] as number })).filter((p) => Number.isFinite(p.a + p.b));
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  console.log(
    `${pairs.length} pairs on the ${values.suite} suite; ${judge.detector} P(real): base ${mean(generated).toFixed(3)}, real ${mean(real).toFixed(3)}`,
  );
  if (judge.temperature !== undefined)
    console.log(
      `current temperature ${judge.temperature}: expected base win rate ${(100 * expectedWinRate(pairs, judge.temperature)).toFixed(1)}%`,
    );
  const t = calibrateTemperature(pairs, target);
  console.log(`temperature for a ${(100 * target).toFixed(0)}% base win rate: ${t.toFixed(2)}`);
  await Promise.all([generator.close(), detector.close()]);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
