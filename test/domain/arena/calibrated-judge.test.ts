import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  calibrateTemperature,
  expectedWinRate,
  judgePair,
  judgePairDraws,
  preferProbability,
} from '../../../domain/arena/calibrated-judge';

describe('calibrated local judge', () => {
  it('follows the held-out logit difference; equal images are a coin flip', () => {
    assert.equal(preferProbability(0.5, 0.5, 1), 0.5);
    assert.ok(preferProbability(0.9, 0.1, 1) > 0.98);
    assert.ok(preferProbability(0.9, 0.1, 100) < 0.6);
    assert.throws(() => preferProbability(0.5, 0.5, 0), /temperature/);
  });

  it('is seeded per pair, asks both orders, and real-vs-real comes out near 50%', () => {
    assert.equal(judgePair('x', 0.3, 0.7, 2), judgePair('x', 0.3, 0.7, 2));
    let s = 0;
    for (let i = 0; i < 2000; i++) s += judgePair(`real:${i}`, 0.8, 0.8, 2);
    assert.ok(Math.abs(s / 2000 - 0.5) < 0.03, String(s / 2000));
  });

  it('averages several seeded draws per pair, so an arena of 210 pairs tracks its expected win rate', () => {
    const pairs = Array.from({ length: 210 }, (_, i) => ({ a: 0.02 + 0.004 * i, b: 0.85 }));
    const T = calibrateTemperature(pairs, 0.25);
    const rate = (draws: number) =>
      pairs.reduce((s, p, i) => s + judgePairDraws(`base:${i}`, p.a, p.b, T, draws), 0) / pairs.length;
    // One draw per pair and order has sd ≈ 2 points here; 32 draws ≈ 0.4 points.
    assert.ok(Math.abs(rate(32) - 0.25) < 0.015, String(rate(32)));
    assert.equal(judgePairDraws('x', 0.3, 0.7, 2, 1), judgePair('x', 0.3, 0.7, 2));
    assert.equal(judgePairDraws('x', 0.3, 0.7, 2, 8), judgePairDraws('x', 0.3, 0.7, 2, 8));
    let real = 0;
    for (let i = 0; i < 200; i++) real += judgePairDraws(`real:${i}`, 0.8, 0.8, 2, 32);
    assert.ok(Math.abs(real / 200 - 0.5) < 0.01, String(real / 200));
    assert.throws(() => judgePairDraws('x', 0.3, 0.7, 2, 0), /draws must be/);
  });

  it('calibrates T so a weaker set wins at the target rate, neither 0% nor above 40%', () => {
    const pairs = Array.from({ length: 100 }, (_, i) => ({ a: 0.05 + 0.002 * i, b: 0.8 }));
    const T = calibrateTemperature(pairs, 0.25);
    assert.ok(Math.abs(expectedWinRate(pairs, T) - 0.25) < 1e-6);
    let s = 0;
    pairs.forEach((p, i) => (s += judgePair(`base:${i}`, p.a, p.b, T)));
    assert.ok(s / pairs.length > 0 && s / pairs.length <= 0.4, String(s / pairs.length));
    assert.throws(() => calibrateTemperature([{ a: 0.9, b: 0.1 }], 0.25), /already win/);
  });
});
