import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calibrateTemperature, expectedWinRate, judgePair, preferProbability } from '../../../domain/arena/calibrated-judge';

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
