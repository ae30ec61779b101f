/** A tiny real ONNX detector authored for tests: P(real) = softmax([m, −m])[0] with m the mean pixel value. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DataType, encodeModel, floatTensor } from '../../infra/onnx/onnx-writer';

export function writeTinyDetector(dir: string, options: { size?: number; manifestSize?: number; name?: string } = {}): string {
  const size = options.size ?? 8;
  const third = 1 / 3;
  const bytes = encodeModel({
    graphName: 'tiny',
    opset: 17,
    inputs: [{ name: 'image', dataType: DataType.FLOAT, shape: ['N', 3, size, size] }],
    outputs: [{ name: 'logits', dataType: DataType.FLOAT, shape: ['N', 2] }],
    initializers: [floatTensor('w', [3, 2], [third, -third, third, -third, third, -third]), floatTensor('b', [2], [0, 0])],
    nodes: [
      { opType: 'GlobalAveragePool', inputs: ['image'], outputs: ['gap'] },
      { opType: 'Flatten', inputs: ['gap'], outputs: ['flat'] },
      { opType: 'Gemm', inputs: ['flat', 'w', 'b'], outputs: ['logits'] },
    ],
  });
  writeFileSync(path.join(dir, 'tiny.onnx'), bytes);
  const m = options.manifestSize ?? size;
  const manifest = {
    name: options.name ?? 'tiny',
    role: 'reward',
    onnx: 'tiny.onnx',
    input: {
      name: 'image',
      size: [m, m],
      layout: 'NCHW',
      colorOrder: 'RGB',
      resize: [{ size: [m, m], mode: 'cover' }],
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
    },
    output: { name: 'logits', kind: 'logits', realIndex: 0 },
  };
  const file = path.join(dir, `${manifest.name}-${m}.json`);
  writeFileSync(file, JSON.stringify(manifest));
  return file;
}

/** CRC-32 (PNG chunks). */
function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A PNG that is only a signature and an IHDR chunk claiming `width`×`height` (no pixel data). */
export function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const type = Buffer.from('IHDR');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, ihdr])));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), len, type, ihdr, crc]);
}
