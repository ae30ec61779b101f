import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addNoise, blur3, contrast, sharpen } from '../../../domain/image/edits';
import { Rng } from '../../../lib/random';

const checker = () => {
  const w = 8;
  const data = Buffer.alloc(w * w * 3);
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) data.fill((x + y) % 2 ? 160 : 96, (y * w + x) * 3, (y * w + x) * 3 + 3);
  return { data, width: w, height: w };
};
const energy = (img: { data: Buffer; width: number }) => {
  let e = 0;
  for (let i = 3; i < img.data.length; i++) e += ((img.data[i] as number) - (img.data[i - 3] as number)) ** 2;
  return e;
};

describe('probe image edits', () => {
  it('blur lowers and sharpen raises high-frequency energy; a flat image stays flat', () => {
    const img = checker();
    assert.ok(energy(blur3(img)) < energy(img));
    assert.ok(energy(sharpen(img)) > energy(img));
    const flat = { data: Buffer.alloc(48, 77), width: 4, height: 4 };
    assert.deepEqual(blur3(flat).data, flat.data);
    assert.deepEqual(sharpen(flat).data, flat.data);
  });

  it('contrast keeps the mean grey; noise is seeded', () => {
    const c = contrast(checker(), 1.15);
    assert.equal(c.data[0], 91);
    assert.equal(c.data[3], 165);
    const a = addNoise(checker(), Rng.fromSeed(1, 'n'));
    const b = addNoise(checker(), Rng.fromSeed(1, 'n'));
    assert.deepEqual(a.data, b.data);
    assert.notDeepEqual(a.data, checker().data);
  });
});
