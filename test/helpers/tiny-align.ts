/**
 * A tiny real dual encoder for tests, written the way `tools/python/train_align.py` writes `align.json`:
 * image tower = channel means (after preprocessing) · W_image, text tower = token ids (as floats) · W_text, both
 * L2-normalised. `expectedCosine` recomputes the score in plain TypeScript.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DataType, encodeModel, floatTensor } from '../../infra/onnx/onnx-writer';

export const TINY_ALIGN = {
  size: 8,
  maxLen: 6,
  dim: 4,
  wImage: [1, 0, 0.5, -1, 0, 1, 0.5, 0.25, 0.2, -0.3, 1, 0.5],
  wText: [
    0.1, 0.2, -0.1, 0.05, -0.2, 0.1, 0.3, 0.1, 0.05, 0.05, 0.1, -0.2, 0.3, -0.1, 0.02, 0.1, -0.05, 0.2, 0.1, 0.1, 0.1, 0.1, -0.1,
    0.3,
  ],
  tokenizer: {
    version: 1,
    maxLen: 6,
    pad: 0,
    unk: 1,
    vocabSize: 9,
    categories: { animals: 2, food: 3 },
    vocab: { cat: 4, dog: 5, red: 6, blue: 7 },
    bigrams: { 'red cat': 8 },
  },
} as const;

/** Writes align.json + both towers + tokenizer.json into `dir`; returns the manifest path. */
export function writeTinyAlignment(dir: string): string {
  const { size, maxLen, dim } = TINY_ALIGN;
  const l2 = {
    opType: 'LpNormalization',
    attributes: { axis: { kind: 'int' as const, value: 1 }, p: { kind: 'int' as const, value: 2 } },
  };
  writeFileSync(
    path.join(dir, 'align-image.onnx'),
    encodeModel({
      graphName: 'tiny-align-image',
      opset: 17,
      inputs: [{ name: 'image', dataType: DataType.FLOAT, shape: ['N', 3, size, size] }],
      outputs: [{ name: 'embedding', dataType: DataType.FLOAT, shape: ['N', dim] }],
      initializers: [floatTensor('w', [3, dim], TINY_ALIGN.wImage)],
      nodes: [
        { opType: 'GlobalAveragePool', inputs: ['image'], outputs: ['gap'] },
        { opType: 'Flatten', inputs: ['gap'], outputs: ['flat'] },
        { opType: 'MatMul', inputs: ['flat', 'w'], outputs: ['proj'] },
        { ...l2, inputs: ['proj'], outputs: ['embedding'] },
      ],
    }),
  );
  writeFileSync(
    path.join(dir, 'align-text.onnx'),
    encodeModel({
      graphName: 'tiny-align-text',
      opset: 17,
      inputs: [{ name: 'tokens', dataType: DataType.INT64, shape: ['N', maxLen] }],
      outputs: [{ name: 'embedding', dataType: DataType.FLOAT, shape: ['N', dim] }],
      initializers: [floatTensor('w', [maxLen, dim], TINY_ALIGN.wText)],
      nodes: [
        { opType: 'Cast', inputs: ['tokens'], outputs: ['f'], attributes: { to: { kind: 'int', value: DataType.FLOAT } } },
        { opType: 'MatMul', inputs: ['f', 'w'], outputs: ['proj'] },
        { ...l2, inputs: ['proj'], outputs: ['embedding'] },
      ],
    }),
  );
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(TINY_ALIGN.tokenizer));
  const manifest = {
    name: 'align-tiny',
    imageOnnx: 'align-image.onnx',
    textOnnx: 'align-text.onnx',
    image: {
      input: 'image',
      shape: ['N', 3, size, size],
      dtype: 'float32',
      layout: 'NCHW',
      colorOrder: 'RGB',
      centerCropSquare: true,
      resize: [{ size: [size, size], mode: 'squash' }],
      scale: 1 / 255,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      output: 'embedding',
      outputShape: ['N', dim],
    },
    text: {
      input: 'tokens',
      shape: ['N', maxLen],
      dtype: 'int64',
      tokenizer: 'tokenizer.json',
      category: 'optional',
      output: 'embedding',
      outputShape: ['N', dim],
    },
    embeddingDim: dim,
    normalized: 'L2',
    score: 'cosine similarity',
    params: { image: 12, text: 24 },
    trainSteps: 0,
  };
  const file = path.join(dir, 'align.json');
  writeFileSync(file, JSON.stringify(manifest));
  return file;
}

/** The cosine the tiny towers give for a solid-colour image [r,g,b] (0–255) and token ids. */
export function expectedCosine(rgb: [number, number, number], ids: number[]): number {
  const { dim, wImage, wText } = TINY_ALIGN;
  const x = rgb.map((v) => (v / 255 - 0.5) / 0.5);
  const img = Array.from({ length: dim }, (_, j) => x.reduce((s, xc, c) => s + xc * (wImage[c * dim + j] ?? 0), 0));
  const txt = Array.from({ length: dim }, (_, j) => ids.reduce((s, id, t) => s + id * (wText[t * dim + j] ?? 0), 0));
  const dot = img.reduce((s, v, j) => s + v * (txt[j] ?? 0), 0);
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, a) => s + a * a, 0));
  return dot / (norm(img) * norm(txt));
}
