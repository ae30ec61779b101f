/** A tiny real ONNX "generator" for sampler tests: v = 0.5·x + σ + 0.001·mean(tokens), broadcast per image. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DataType, encodeModel, floatTensor, int64Tensor } from '../../infra/onnx/onnx-writer';

export function writeTinyGenerator(dir: string, size = 8, maxLen = 96): string {
  const bytes = encodeModel({
    graphName: 'tiny-generator',
    opset: 17,
    inputs: [
      { name: 'x', dataType: DataType.FLOAT, shape: ['N', 3, size, size] },
      { name: 'sigma', dataType: DataType.FLOAT, shape: ['N'] },
      { name: 'tokens', dataType: DataType.INT64, shape: ['N', maxLen] },
    ],
    outputs: [{ name: 'v', dataType: DataType.FLOAT, shape: ['N', 3, size, size] }],
    initializers: [
      floatTensor('half', [1], [0.5]),
      floatTensor('milli', [1], [0.001]),
      int64Tensor('shape4', [4], [-1, 1, 1, 1]),
    ],
    nodes: [
      { opType: 'Cast', inputs: ['tokens'], outputs: ['tf'], attributes: { to: { kind: 'int', value: DataType.FLOAT } } },
      // Opset 17 ReduceMean takes its axes as an attribute (the input form came with opset 18).
      {
        opType: 'ReduceMean',
        inputs: ['tf'],
        outputs: ['tm'],
        attributes: { axes: { kind: 'ints', value: [1] }, keepdims: { kind: 'int', value: 0 } },
      },
      { opType: 'Mul', inputs: ['tm', 'milli'], outputs: ['ts'] },
      { opType: 'Add', inputs: ['sigma', 'ts'], outputs: ['bias'] },
      { opType: 'Reshape', inputs: ['bias', 'shape4'], outputs: ['bias4'] },
      { opType: 'Mul', inputs: ['x', 'half'], outputs: ['hx'] },
      { opType: 'Add', inputs: ['hx', 'bias4'], outputs: ['v'] },
    ],
  });
  writeFileSync(path.join(dir, 'tiny-generator.onnx'), bytes);
  const spec = path.join(dir, 'tiny-generator.json');
  writeFileSync(spec, JSON.stringify({ onnx: 'tiny-generator.onnx', size, channels: 3, maxLen, steps: 6 }));
  return spec;
}
