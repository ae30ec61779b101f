import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  judgePairLocally,
  judgePairsLocally,
  type LocalJudgedPair,
  type RealnessScorer,
} from '../../../domain/arena/local-judge';

const img = (name: string) => Buffer.from(name);
/** A position-independent detector: a fixed P(real) per image, recording every call. */
function fixedScorer(pReal: Record<string, number>, calls: string[][] = []): RealnessScorer {
  return async (images) => {
    calls.push(images.map((b) => b.toString()));
    return images.map((b) => pReal[b.toString()] ?? Number.NaN);
  };
}
const ok = (r: unknown): LocalJudgedPair => {
  assert.ok(r && typeof r === 'object' && !('error' in r), `expected a verdict, got ${JSON.stringify(r)}`);
  return r as LocalJudgedPair;
};

describe('local judge', () => {
  it('asks both orders and prefers the image with the higher P(real)', async () => {
    const calls: string[][] = [];
    const scorer = fixedScorer({ gen: 0.8, real: 0.6 }, calls);
    const r = ok(await judgePairLocally({ generated: img('gen'), real: img('real') }, scorer));
    assert.deepEqual(calls, [
      ['gen', 'real'],
      ['real', 'gen'],
    ]);
    assert.deepEqual([r.outcome, r.score, r.consistent, r.unparseable], ['win', 1, true, false]);
    assert.deepEqual(r.scores, { generatedFirst: { generated: 0.8, real: 0.6 }, realFirst: { generated: 0.8, real: 0.6 } });
  });

  it('is position-independent: swapping the roles of the two images swaps win and loss', async () => {
    const scorer = fixedScorer({ a: 0.3, b: 0.7 });
    const ab = ok(await judgePairLocally({ generated: img('a'), real: img('b') }, scorer));
    const ba = ok(await judgePairLocally({ generated: img('b'), real: img('a') }, scorer));
    assert.equal(ab.outcome, 'loss');
    assert.equal(ba.outcome, 'win');
    assert.ok(ab.consistent && ba.consistent);
  });

  it('ties consistently when the scores are equal within 1e-9, and not beyond', async () => {
    const equal = ok(await judgePairLocally({ generated: img('g'), real: img('r') }, fixedScorer({ g: 0.5 + 5e-10, r: 0.5 })));
    assert.deepEqual([equal.outcome, equal.consistent], ['tie', true]);
    const apart = ok(await judgePairLocally({ generated: img('g'), real: img('r') }, fixedScorer({ g: 0.5 + 1e-6, r: 0.5 })));
    assert.equal(apart.outcome, 'win');
    const loose = ok(
      await judgePairLocally({ generated: img('g'), real: img('r') }, fixedScorer({ g: 0.5 + 1e-6, r: 0.5 }), {
        tolerance: 1e-3,
      }),
    );
    assert.equal(loose.outcome, 'tie');
  });

  it('turns a position-dependent scorer into an inconsistent tie instead of a position-decided result', async () => {
    // Adds 0.2 to whatever comes first: it would call either image "more real" when placed first.
    const biased: RealnessScorer = async (images) =>
      images.map((b, i) => (b.toString() === 'gen' ? 0.5 : 0.45) + (i === 0 ? 0.2 : 0));
    const r = ok(await judgePairLocally({ generated: img('gen'), real: img('real') }, biased));
    assert.deepEqual([r.outcome, r.score, r.consistent, r.unparseable], ['tie', 0.5, false, false]);
  });

  it('reports a failing or malformed scorer as an error for that pair', async () => {
    const pair = { generated: img('g'), real: img('r') };
    const thrown = await judgePairLocally(pair, async () => {
      throw new Error('session closed');
    });
    assert.deepEqual(thrown, { error: 'session closed' });
    const short = await judgePairLocally(pair, async () => [0.5]);
    assert.ok('error' in short);
    assert.match(short.error, /generated-first order: expected the scorer to return 2 scores, got 1/);
    const nan = await judgePairLocally(pair, fixedScorer({ g: 0.5 }));
    assert.ok('error' in nan);
    assert.match(nan.error, /expected P\(real\) scores in \[0, 1\], got NaN/);
    const outOfRange = await judgePairLocally(pair, async () => [1.5, 0.2]);
    assert.ok('error' in outOfRange);
  });

  it('judges a list in order', async () => {
    const scorer = fixedScorer({ a: 0.9, b: 0.1, c: 0.5 });
    const results = await judgePairsLocally(
      [
        { generated: img('a'), real: img('c') },
        { generated: img('b'), real: img('c') },
      ],
      scorer,
    );
    assert.deepEqual(
      results.map((r) => ok(r).outcome),
      ['win', 'loss'],
    );
  });
});
