/**
 * The pipeline's local judge in its calibrated form (issue 15 item 4): with `evaluation.judge.temperature` set, a
 * detector that separates real from generated almost perfectly no longer makes every generated image lose; the
 * verdict is a seeded draw (the same pair always gets the same verdict), real against real is 50%, and the win
 * rate follows the detector's logit gap at the temperature.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectedWinRate } from '../../../domain/arena/calibrated-judge';
import { judgePairLocally, type LocalJudgedPair, type RealnessScorer } from '../../../domain/arena/local-judge';
import { Rng } from '../../../lib/random';

const scorerOf =
  (pReal: Record<string, number>): RealnessScorer =>
  async (images) =>
    images.map((b) => pReal[b.toString()] ?? Number.NaN);

async function winRate(pairs: Array<{ gen: number; real: number }>, temperature: number | null): Promise<number> {
  let score = 0;
  for (const [i, p] of pairs.entries()) {
    const scorer = scorerOf({ [`g${i}`]: p.gen, [`r${i}`]: p.real });
    const options = temperature === null ? {} : { calibrated: { temperature, pairId: `item-${i}`, seed: 42 } };
    const r = (await judgePairLocally(
      { generated: Buffer.from(`g${i}`), real: Buffer.from(`r${i}`) },
      scorer,
      options,
    )) as LocalJudgedPair;
    score += r.score;
  }
  return score / pairs.length;
}

describe('calibrated local judge', () => {
  // Base-generator-like pairs: P(real) ≈ 0.12 for the generated image against ≈ 0.83 for its real photo.
  const rng = Rng.fromSeed(7, 'calibrated-judge-test');
  const pairs = Array.from({ length: 2000 }, () => ({ gen: 0.04 + 0.16 * rng.uniform(), real: 0.7 + 0.25 * rng.uniform() }));

  it('is saturated without a temperature and follows the calibrated win rate with one', async () => {
    assert.equal(await winRate(pairs, null), 0, 'the plain local judge: every generated image loses');
    const rate = await winRate(pairs, 4.26);
    const expected = expectedWinRate(
      pairs.map((p) => ({ a: p.gen, b: p.real })),
      4.26,
    );
    assert.ok(rate > 0.05 && rate < 0.4, `calibrated: neither 0% nor above 40% (${rate})`);
    assert.ok(Math.abs(rate - expected) < 0.03, `the draws follow the expected win rate ${expected} (got ${rate})`);
  });

  it('scores real against real at 50% and gives the same pair the same verdict', async () => {
    const same = pairs.map((p) => ({ gen: p.real, real: p.real }));
    const rate = await winRate(same, 4.26);
    assert.ok(Math.abs(rate - 0.5) < 0.03, `real vs real ≈ 50% (${rate})`);
    assert.equal(await winRate(pairs.slice(0, 200), 4.26), await winRate(pairs.slice(0, 200), 4.26));
  });

  it('refuses a temperature that is not positive', async () => {
    const scorer = scorerOf({ g: 0.1, r: 0.9 });
    const r = await judgePairLocally({ generated: Buffer.from('g'), real: Buffer.from('r') }, scorer, {
      calibrated: { temperature: 0, pairId: 'x' },
    });
    assert.ok('error' in r && /temperature must be > 0/.test(r.error), JSON.stringify(r));
  });
});
