import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { encodePng } from '../../../infra/image/decode';
import { sampleFlow, toRgb } from '../../../domain/mini/flow-sampler';
import { MiniGenerator } from '../../../infra/mini/generator';
import { sdeCoefficients, sigmaSchedule, transitionLogProb } from '../../../domain/mini/sde';
import type { Tokenizer } from '../../../domain/mini/tokenizer';
import { Rng } from '../../../lib/random';
import { writeTinyGenerator } from '../../helpers/tiny-generator';
import { loadTokenizer } from '../../../infra/mini/tokenizer-file';

const repo = path.resolve(__dirname, '..', '..', '..');
let gen: MiniGenerator;
let tok: Tokenizer;
const prompts = [
  { text: 'a red fox in snow', category: 'animals' },
  { text: 'a bowl of ramen, slight grain', category: 'dishes' },
  { text: 'an old church at dusk', category: 'buildings' },
];

describe('flow samplers', () => {
  before(async () => {
    gen = await MiniGenerator.load(writeTinyGenerator(mkdtempSync(path.join(os.tmpdir(), 'realgen-gen-'))));
    tok = loadTokenizer(path.join(repo, 'models', 'realgen-mini', 'tokenizer.json'));
  });

  it('computes the SDE coefficients of the spec, with the σ = 1 substitution', () => {
    const sig = sigmaSchedule(4);
    assert.deepEqual(sig, [1, 0.75, 0.5, 0.25, 0]);
    const c = sdeCoefficients(1, 0.75, 0.9, 0.75);
    const st = 0.9 * Math.sqrt(1 / (1 - 0.75));
    assert.ok(Math.abs(c.st - st) < 1e-12);
    assert.ok(Math.abs(c.kx - (1 + (st * st * -0.25) / 2)) < 1e-12);
    assert.ok(Math.abs(c.kv - -0.25) < 1e-12, 'at σ = 1 the (1−σ) term vanishes');
    assert.ok(Math.abs(c.tau - st * 0.5) < 1e-12);
    const mid = sdeCoefficients(0.5, 0.25, 0.9, 0.75);
    assert.ok(Math.abs(mid.st - 0.9) < 1e-12);
    assert.throws(() => sdeCoefficients(0.5, 0.5, 0.9, 0.75), /σ' < σ/);
  });

  it('is deterministic: one seed gives byte-identical PNGs, whatever the batching', async () => {
    const run = async (batches: number[][]) => {
      const rng = Rng.fromSeed(123);
      const pngs: Buffer[] = [];
      for (const b of batches) {
        const r = await sampleFlow(
          gen,
          tok,
          b.map((i) => prompts[i]!),
          { rng, sdeWindow: { start: 1, size: 2 } },
        );
        for (const img of r.images) pngs.push(await encodePng(toRgb(img, gen.spec.size)));
      }
      return pngs;
    };
    const a = await run([[0, 1, 2]]);
    const b = await run([[0, 1, 2]]);
    assert.deepEqual(a, b);
    const other = await (async () => {
      const r = await sampleFlow(gen, tok, prompts, { rng: Rng.fromSeed(124), sdeWindow: { start: 1, size: 2 } });
      return encodePng(toRgb(r.images[0]!, gen.spec.size));
    })();
    assert.notDeepEqual(a[0], other);
  });

  it('records SDE transitions whose log-probs recompute within 1e-5', async () => {
    const r = await sampleFlow(gen, tok, prompts, { rng: Rng.fromSeed(5), noiseLevel: 0.9, sdeWindow: { start: 0, size: 3 } });
    assert.equal(r.transitions.length, 3);
    for (const ts of r.transitions) {
      assert.deepEqual(
        ts.map((t) => t.step),
        [0, 1, 2],
      );
      for (const t of ts) {
        const again = transitionLogProb(t, 0.9, r.sigmas[1]!);
        assert.ok(Math.abs(again - t.logProb) < 1e-5, `${again} vs ${t.logProb}`);
        assert.ok(Number.isFinite(t.logProb));
      }
    }
  });

  it('adds the adapter offset to the velocity and records it', async () => {
    const D = gen.imageElements;
    const offset = new Float32Array(D).fill(0.1);
    const base = await sampleFlow(gen, tok, prompts.slice(0, 1), { rng: Rng.fromSeed(9), sdeWindow: { start: 2, size: 1 } });
    const shifted = await sampleFlow(gen, tok, prompts.slice(0, 1), {
      rng: Rng.fromSeed(9),
      sdeWindow: { start: 2, size: 1 },
      velocityOffset: () => offset,
    });
    assert.notDeepEqual(base.images[0], shifted.images[0]);
    const t = shifted.transitions[0]![0]!;
    assert.deepEqual(t.offset, offset);
    assert.ok(Math.abs(transitionLogProb(t, 0.9, shifted.sigmas[1]!, t.offset) - t.logProb) < 1e-5);
    assert.throws(() => sdeCoefficients(0, -1, 0.9, 0.5), /σ > 0/);
    await assert.rejects(
      sampleFlow(gen, tok, prompts, { rng: Rng.fromSeed(1), sdeWindow: { start: 5, size: 3 } }),
      /outside the 6 steps/,
    );
  });

  it('common random numbers: images of one noise group share the initial noise, other groups do not', async () => {
    const four = [prompts[0]!, prompts[0]!, prompts[0]!, prompts[0]!];
    const r = await sampleFlow(gen, tok, four, { rng: Rng.fromSeed(4), noiseGroups: ['a', 'a', 'b', 'b'] });
    assert.deepEqual(r.images[0], r.images[1]);
    assert.deepEqual(r.images[2], r.images[3]);
    assert.notDeepEqual(r.images[0], r.images[2]);
    // Without groups every image draws its own noise (the trainer's default).
    const own = await sampleFlow(gen, tok, four.slice(0, 2), { rng: Rng.fromSeed(4) });
    assert.notDeepEqual(own.images[0], own.images[1]);
  });
});
