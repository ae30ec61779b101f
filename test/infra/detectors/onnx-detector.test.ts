import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { OnnxDetector } from '../../../infra/detectors/onnx-detector';
import { decodeToRgb, headerSize, sniffFormat } from '../../../infra/image/decode';
import { pngHeaderOnly, writeTinyDetector } from '../../helpers/tiny-detector';

const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-det-'));
let detector: OnnxDetector;
let whiteJpeg: Buffer;
let blackPng: Buffer;
let greyWebp: Buffer;

const expected = (m: number) => Math.exp(m) / (Math.exp(m) + Math.exp(-m));

describe('ONNX detector runtime', () => {
  before(async () => {
    detector = await OnnxDetector.load(writeTinyDetector(dir));
    whiteJpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#ffffff' } })
      .jpeg({ quality: 95 })
      .toBuffer();
    blackPng = await sharp({ create: { width: 16, height: 16, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } } })
      .png()
      .toBuffer();
    greyWebp = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#808080' } })
      .webp({ lossless: true })
      .toBuffer();
  });

  it('scores JPEG, PNG and WebP by content, whatever their names', async () => {
    const results = await detector.scoreEncoded([whiteJpeg, blackPng, greyWebp]);
    const p = results.map((r) => (r.ok ? r.pReal : NaN));
    assert.ok(Math.abs((p[0] ?? 0) - expected(1)) < 0.01, `white ${p[0]}`);
    assert.ok(Math.abs((p[1] ?? 0) - 0.5) < 1e-6, `black ${p[1]}`);
    assert.ok(Math.abs((p[2] ?? 0) - expected(128 / 255)) < 1e-3, `grey ${p[2]}`);
    assert.equal(detector.provider, 'cpu');
  });

  it('turns bad inputs into per-item errors while the rest of the batch scores', async () => {
    // A photo-like JPEG cut at 90%: the header reads, the scan data ends early.
    const noise = Buffer.alloc(64 * 64 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const noisyJpeg = await sharp(noise, { raw: { width: 64, height: 64, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    const truncated = noisyJpeg.subarray(0, Math.floor(noisyJpeg.length * 0.9));
    const results = await detector.scoreEncoded([
      truncated,
      Buffer.alloc(0),
      Buffer.from('this is a text file named photo.jpg\n'),
      pngHeaderOnly(20000, 20000),
      whiteJpeg,
    ]);
    const errors = results.map((r) => (r.ok ? null : r.error));
    // libvips reports a truncated JPEG as "premature end of JPEG" or, through failOn, as "Warning treated as error"; both were seen here.
    assert.match(errors[0] ?? '', /cannot decode jpeg: .*(premature end of JPEG|warning treated as error)/i);
    assert.match(errors[1] ?? '', /empty file \(0 bytes\)/);
    assert.match(errors[2] ?? '', /not a JPEG, PNG or WebP image/);
    assert.match(errors[3] ?? '', /20000×20000 = 400000000 pixels; the limit is 50000000 \(refused before decoding\)/);
    assert.equal(results[4]?.ok, true);
  });

  it('refuses at load a manifest whose input size disagrees with the graph', async () => {
    const bad = writeTinyDetector(dir, { size: 8, manifestSize: 16, name: 'mismatch' });
    await assert.rejects(
      OnnxDetector.load(bad),
      /manifest does not match the graph: input\.size is 16×16 but the graph takes 8×8/,
    );
  });

  it('sniffs formats from magic bytes only', async () => {
    assert.equal(sniffFormat(whiteJpeg), 'jpeg');
    assert.equal(sniffFormat(blackPng), 'png');
    assert.equal(sniffFormat(greyWebp), 'webp');
    assert.equal(sniffFormat(Buffer.from('GIF89a')), null);
    assert.deepEqual(headerSize(whiteJpeg, 'jpeg'), { width: 40, height: 30 });
    assert.deepEqual(headerSize(blackPng, 'png'), { width: 16, height: 16 });
    assert.deepEqual(headerSize(greyWebp, 'webp'), { width: 20, height: 20 });
    const lossy = await sharp({ create: { width: 33, height: 17, channels: 3, background: '#123456' } })
      .webp({ quality: 80 })
      .toBuffer();
    assert.deepEqual(headerSize(lossy, 'webp'), { width: 33, height: 17 });
    const rgb = await decodeToRgb(whiteJpeg, [{ size: [8, 8], mode: 'cover' }]);
    assert.deepEqual([rgb.width, rgb.height, rgb.data.length], [8, 8, 192]);
  });
});
