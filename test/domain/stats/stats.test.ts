import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitLogistic, predictLogistic } from '../../../domain/stats/logistic';
import { rocAuc } from '../../../domain/stats/roc-auc';
import { Rng } from '../../../lib/random';

describe('ROC-AUC', () => {
  it('matches hand-computed values, ties counted half', () => {
    assert.equal(rocAuc([3, 4], [1, 2]), 1);
    assert.equal(rocAuc([1, 2], [3, 4]), 0);
    assert.equal(rocAuc([1], [1]), 0.5);
    // pairs: (2>1) (2<3) (4>1) (4>3) → 3/4
    assert.equal(rocAuc([2, 4], [1, 3]), 0.75);
    assert.throws(() => rocAuc([], [1]), /at least one positive/);
  });
});

describe('logistic regression', () => {
  it('recovers a separating direction and predicts calibrated probabilities', () => {
    const rng = Rng.fromSeed(3);
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 400; i++) {
      const label = i % 2;
      X.push([rng.normal() + (label ? 1.5 : -1.5), rng.normal() * 10 + 100]);
      y.push(label);
    }
    const model = fitLogistic(X, y, { l2: 0.1 });
    assert.ok(model.weights[0]! > 1, 'informative feature gets a large weight');
    assert.ok(Math.abs(model.weights[1]!) < 0.3, 'noise feature stays small');
    const scores = X.map((r) => predictLogistic(model, r));
    const auc = rocAuc(
      scores.filter((_, i) => y[i] === 1),
      scores.filter((_, i) => y[i] === 0),
    );
    assert.ok(auc > 0.95, `auc ${auc}`);
    assert.ok(predictLogistic(model, [3, 100]) > 0.9 && predictLogistic(model, [-3, 100]) < 0.1);
  });
});
