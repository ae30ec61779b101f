import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildSpectralDetector, radialBinMatrix } from '../../../infra/detectors/spectral-graph';
import { Rng } from '../../../lib/random';

const size = 32;
const bins = 8;

function image(fill: (y: number, x: number) => number): Float32Array {
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[c * size * size + y * size + x] = fill(y, x);
  return out;
}

describe('spectral detector graph', () => {
  it('bins every non-DC frequency exactly once', () => {
    const { matrix, counts } = radialBinMatrix(size, bins);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      size * size - 1,
    );
    for (let b = 0; b < bins; b++) {
      let s = 0;
      for (let i = 0; i < size * size; i++) s += matrix[i * bins + b]!;
      assert.ok(Math.abs(s - 1) < 1e-5, `bin ${b} averages`);
    }
  });

  it('gives flat-ish spectra to noise and steep ones to smooth images (the falloff it detects)', async () => {
    const session = await ort.InferenceSession.create(buildSpectralDetector(size, bins, null));
    const rng = Rng.fromSeed(2);
    const noise = image(() => rng.uniform());
    const smooth = image((y, x) => 0.5 + 0.4 * Math.sin(y / 6) * Math.cos(x / 7));
    const out = await session.run({
      image: new ort.Tensor('float32', Float32Array.from([...noise, ...smooth]), [2, 3, size, size]),
    });
    const f = out.features!.data as Float32Array;
    const slope = (row: number) => f[row * bins + bins - 1]! - f[row * bins]!;
    assert.ok(Math.abs(slope(0)) < 3, `noise falloff ${slope(0)}`);
    assert.ok(slope(1) < slope(0) - 5, `smooth image falls off much faster (${slope(1)} vs ${slope(0)})`);
  });

  it('with a head, outputs logits [z/2, −z/2] so that softmax[0] = σ(z)', async () => {
    const head = { mean: new Array(bins).fill(0), std: new Array(bins).fill(1), weights: new Array(bins).fill(0), bias: 1.2 };
    const session = await ort.InferenceSession.create(buildSpectralDetector(size, bins, head));
    const out = await session.run({
      image: new ort.Tensor(
        'float32',
        image(() => 0.3),
        [1, 3, size, size],
      ),
    });
    const [a, b] = Array.from(out.logits!.data as Float32Array);
    assert.ok(Math.abs(a! - 0.6) < 1e-6 && Math.abs(b! + 0.6) < 1e-6);
  });
});
