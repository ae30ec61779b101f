/**
 * Held-out metrics of the realgen-mini models, measured through the TypeScript runtime: each detector's ROC-AUC on
 * the held-out 10% of RealBench (never trained on) vs fresh generator samples for the held-out captions (a seed
 * stream no detector saw), and the alignment scorer's caption→image recall@5 on the held-out pairs vs chance.
 * Writes models/realgen-mini/metrics-ts.json. Not run in CI. Usage: node --import tsx tools/mini/evaluate-mini-detectors.ts
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OnnxDetector } from '../../infra/detectors/onnx-detector';
import { AlignmentScorer } from '../../infra/mini/alignment';
import { sampleFlow, toRgb } from '../../domain/mini/flow-sampler';
import { MiniGenerator } from '../../infra/mini/generator';
import { Rng } from '../../lib/random';
import { loadRealBench, selectSuite } from '../../infra/realbench/realbench';
import { rocAuc } from '../../domain/stats/roc-auc';
import { loadTokenizer } from '../../infra/mini/tokenizer-file';

const repo = path.resolve(__dirname, '..', '..');
const dir = path.join(repo, 'models', 'realgen-mini');

async function main(): Promise<void> {
  const benchDir = path.resolve(repo, '..', 'shared', 'realbench-data');
  const heldout = selectSuite((await loadRealBench(benchDir)).items, 'heldout');
  const realBytes = heldout.map((it) => readFileSync(path.join(benchDir, it.file)));
  const gen = await MiniGenerator.load(path.join(dir, 'generator.json'), { intraOpThreads: 2 });
  const tok = loadTokenizer(path.join(dir, 'tokenizer.json'));
  const rng = Rng.fromSeed(7, 'detector-eval-fakes');
  const fakes = [];
  for (let i = 0; i < heldout.length; i += 16) {
    const r = await sampleFlow(
      gen,
      tok,
      heldout.slice(i, i + 16).map((it) => ({ text: it.prompt, category: it.category })),
      { rng },
    );
    fakes.push(...r.images.map((img) => toRgb(img, gen.spec.size)));
  }
  await gen.close();
  const metrics: Record<string, unknown> = {
    heldoutReal: heldout.length,
    freshFakes: fakes.length,
    fakeSampler: '28-step Euler ODE, seed stream detector-eval-fakes',
  };
  // Real photos from sources other than RealBench (test/fixtures/other-photos, see its README): does each detector
  // still score real photos above generated samples when the camera and the dataset change?
  const otherDir = path.join(repo, 'test', 'fixtures', 'other-photos');
  const otherBytes = readdirSync(otherDir)
    .filter((f) => f.endsWith('.png'))
    .sort()
    .map((f) => readFileSync(path.join(otherDir, f)));
  metrics.otherPhotos = otherBytes.length;
  for (const name of ['detector-cnn', 'detector-spectral', 'detector-residual', 'detector-residual-reward']) {
    const d = await OnnxDetector.load(path.join(dir, `${name}.json`));
    const real = (await d.scoreEncoded(realBytes)).map((r) => (r.ok ? r.pReal : NaN));
    const fake = (await d.scoreRgb(fakes)).map((r) => (r.ok ? r.pReal : NaN));
    const auc = rocAuc(real, fake);
    const other = (await d.scoreEncoded(otherBytes)).map((r) => (r.ok ? r.pReal : NaN));
    const otherAuc = rocAuc(other, fake);
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    metrics[d.name] = {
      role: d.manifest.role,
      rocAuc: auc,
      meanPRealReal: avg(real),
      meanPRealFake: avg(fake),
      otherPhotosRocAuc: otherAuc,
      meanPRealOtherPhotos: avg(other),
    };
    console.log(`${d.name} (${d.manifest.role}): ROC-AUC ${auc.toFixed(3)}, other photos vs generated ${otherAuc.toFixed(3)}`);
    await d.close();
  }
  const align = await AlignmentScorer.load(path.join(dir, 'align.json'));
  // Caption→image recall@5: for each caption, is its own photo among the 5 most similar of the 105?
  let hits = 0;
  const prompts = heldout.map((it) => ({ text: it.prompt, category: it.category }));
  const sims: number[][] = [];
  for (const p of prompts)
    sims.push(
      (
        await align.scoreEach(
          realBytes,
          realBytes.map(() => p),
        )
      ).map((r) => (r.ok ? r.score : -Infinity)),
    );
  sims.forEach((row, i) => {
    const own = row[i] ?? -Infinity;
    if (row.filter((v) => v > own).length < 5) hits++;
  });
  metrics.alignmentRecallAt5 = { recall: hits / heldout.length, chance: 5 / heldout.length, pairs: heldout.length };
  console.log(`alignment recall@5 ${(hits / heldout.length).toFixed(3)} (chance ${(5 / heldout.length).toFixed(3)})`);
  await align.close();
  writeFileSync(path.join(dir, 'metrics-ts.json'), `${JSON.stringify(metrics, null, 1)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
