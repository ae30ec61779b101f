/**
 * `npm run bench:sampling`: realgen-mini sampling speed in TypeScript on this machine — 28-step Euler ODE at
 * batch 16 — and the overhead of our sampler loop over the bare `session.run` time it contains, in one run.
 * Last line: `images_per_s=<x> overhead_ratio=<sampler wall time / session.run time>`.
 */
import path from 'node:path';
import { sampleFlow } from '../domain/mini/flow-sampler';
import { MiniGenerator } from '../infra/mini/generator';
import { Rng } from '../lib/random';
import { loadTokenizer } from '../infra/mini/tokenizer-file';

const repo = path.resolve(__dirname, '..');
const batch = Number(process.env.REALGEN_BENCH_BATCH ?? 16);
const rounds = Number(process.env.REALGEN_BENCH_ROUNDS ?? 3);
const threads = Number(process.env.REALGEN_BENCH_THREADS ?? 2);

async function main(): Promise<void> {
  const gen = await MiniGenerator.load(path.join(repo, 'models', 'realgen-mini', 'generator.json'), {
    intraOpThreads: threads,
    interOpThreads: 1,
  });
  const tok = loadTokenizer(path.join(repo, 'models', 'realgen-mini', 'tokenizer.json'));
  const prompts = Array.from({ length: batch }, (_, i) => ({
    text: `a photo of a street scene number ${i}, slight grain`,
    category: 'outdoor_view',
  }));
  await sampleFlow(gen, tok, prompts.slice(0, 2), { rng: Rng.fromSeed(0), steps: 2 }); // warm-up
  let wall = 0;
  let run = 0;
  for (let r = 0; r < rounds; r++) {
    gen.runMs = 0;
    const t0 = performance.now();
    await sampleFlow(gen, tok, prompts, { rng: Rng.fromSeed(r), steps: 28 });
    wall += performance.now() - t0;
    run += gen.runMs;
    console.log(
      `round ${r + 1}: ${((batch * 1000) / (performance.now() - t0)).toFixed(2)} images/s (session.run ${gen.runMs.toFixed(0)} ms)`,
    );
  }
  console.log(
    `generator ${gen.spec.size}×${gen.spec.size}, batch ${batch}, 28 steps, ${threads} intra-op threads, provider ${gen.provider}`,
  );
  console.log(`images_per_s=${((batch * rounds * 1000) / wall).toFixed(2)} overhead_ratio=${(wall / run).toFixed(3)}`);
  await gen.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
