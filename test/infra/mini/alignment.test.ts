import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { AlignmentScorer, readAlignManifest } from '../../../infra/mini/alignment';
import { expectedCosine, TINY_ALIGN, writeTinyAlignment } from '../../helpers/tiny-align';

const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-align-'));
let manifestFile: string;
let scorer: AlignmentScorer;

const solid = (w: number, h: number, rgb: [number, number, number]) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();

describe('alignment scorer', () => {
  before(async () => {
    manifestFile = writeTinyAlignment(dir);
    scorer = await AlignmentScorer.load(manifestFile);
  });
  after(async () => {
    await scorer.close();
  });

  it('reads the trainer-written align.json, folding centerCropSquare into a cover resize', () => {
    const r = readAlignManifest(manifestFile);
    assert.deepEqual(r.chain, [{ size: [8, 8], mode: 'cover' }]);
    assert.deepEqual(r.size, [8, 8]);
    assert.equal(r.manifest.name, 'align-tiny');
    assert.equal(r.tokenizerPath, path.join(dir, 'tokenizer.json'));
  });

  it('scores the cosine of the two embeddings, with or without a category', async () => {
    const colours: Array<[number, number, number]> = [
      [255, 0, 0],
      [10, 200, 90],
      [0, 0, 255],
    ];
    const images = await Promise.all(colours.map((c, i) => solid(20 + i * 7, 12, c)));
    const prompts = [{ text: 'a red cat', category: 'animals' }, { text: 'Blue DOG' }, { text: 'dog cat red', category: null }];
    const scores = await scorer.score(images, prompts);
    assert.deepEqual(scorer.tokenizer.encode('a red cat', 'animals'), [2, 1, 6, 4, 8, 0]);
    scores.forEach((s, i) => {
      const ids = scorer.tokenizer.encode(prompts[i]?.text ?? '', prompts[i]?.category);
      const want = expectedCosine(colours[i] as [number, number, number], ids);
      assert.ok(Math.abs(s - want) < 1e-5, `item ${i}: ${s} vs ${want}`);
      assert.ok(s >= -1 && s <= 1);
    });
    // RGB in memory gives the same scores as the encoded PNGs.
    const rgb = colours.map((c) => ({
      data: Buffer.from(Array.from({ length: 10 * 10 }, () => c).flat()),
      width: 10,
      height: 10,
    }));
    const fromRgb = await scorer.score(rgb, prompts);
    fromRgb.forEach((s, i) => assert.ok(Math.abs(s - (scores[i] ?? NaN)) < 1e-6));
  });

  it('turns a bad image or an unknown category into that item’s error', async () => {
    const good = await solid(8, 8, [100, 150, 200]);
    const results = await scorer.scoreEach(
      [good, Buffer.from('plain text'), good],
      [{ text: 'cat' }, { text: 'cat' }, { text: 'cat', category: 'vehicles' }],
    );
    assert.equal(results[0]?.ok, true);
    assert.deepEqual(results[1], { ok: false, error: 'not a JPEG, PNG or WebP image (checked by content)' });
    assert.match(
      results[2]?.ok === false ? results[2].error : '',
      /^prompt: unknown category "vehicles"; expected one of animals, food/,
    );
    await assert.rejects(scorer.score([good, Buffer.alloc(0)], [{ text: 'a' }, { text: 'b' }]), /images\[1\]: empty file/);
    await assert.rejects(scorer.scoreEach([good], []), /expected one prompt per image, got 1 images and 0 prompts/);
  });

  it('refuses manifests that disagree with the graphs or the tokenizer, naming the field', async () => {
    const bad = mkdtempSync(path.join(os.tmpdir(), 'realgen-align-bad-'));
    const file = writeTinyAlignment(bad);
    writeFileSync(path.join(bad, 'tokenizer.json'), JSON.stringify({ ...TINY_ALIGN.tokenizer, maxLen: 5 }));
    await assert.rejects(
      AlignmentScorer.load(file),
      /manifest does not match the graphs: .*text tower takes 6 tokens but the tokenizer gives 5/,
    );
    const m = JSON.parse(readFileSync(file, 'utf8')) as { image: Record<string, unknown> };
    delete m.image.mean;
    writeFileSync(file, JSON.stringify(m));
    assert.throws(() => readAlignManifest(file), /invalid alignment manifest: image\.mean: /);
    m.image.mean = [0, 0, 0];
    m.image.resize = [{ size: [16, 16], mode: 'squash' }];
    writeFileSync(file, JSON.stringify(m));
    assert.throws(() => readAlignManifest(file), /image\.shape \["N",3,8,8\] disagrees with the resize chain ending at 16×16/);
  });
});
