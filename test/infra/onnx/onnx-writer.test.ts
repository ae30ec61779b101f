import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { DataType, encodeModel, floatTensor, int64Tensor } from '../../../infra/onnx/onnx-writer';

describe('ONNX writer', () => {
  it('writes a graph that onnxruntime loads and computes correctly (Gemm, Reshape, ReduceSum, attributes)', async () => {
    const bytes = encodeModel({
      graphName: 'g',
      opset: 17,
      inputs: [{ name: 'x', dataType: DataType.FLOAT, shape: ['N', 2, 2] }],
      outputs: [{ name: 'y', dataType: DataType.FLOAT, shape: ['N', 1] }],
      initializers: [floatTensor('w', [4, 1], [1, 2, 3, 4]), floatTensor('b', [1], [0.5]), int64Tensor('shape', [2], [-1, 4])],
      nodes: [
        { opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['flat'] },
        { opType: 'Gemm', inputs: ['flat', 'w', 'b'], outputs: ['y'], attributes: { alpha: { kind: 'float', value: 2 } } },
      ],
    });
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 1, 1, 1, 0, 1, 0, 1]), [2, 2, 2]) });
    // 2 * (1+2+3+4) + 0.5 and 2 * (2+4) + 0.5
    assert.deepEqual(Array.from(out.y?.data as Float32Array), [20.5, 12.5]);
    assert.deepEqual(session.inputNames, ['x']);
  });

  it('runs a 2-D DFT (opset 17 attribute form) with the expected peak', async () => {
    const n = 8;
    const bytes = encodeModel({
      graphName: 'dft',
      opset: 17,
      inputs: [{ name: 'x', dataType: DataType.FLOAT, shape: [1, n, n, 1] }],
      outputs: [{ name: 'p', dataType: DataType.FLOAT, shape: [1, n, n] }],
      initializers: [int64Tensor('axes', [1], [3])],
      nodes: [
        { opType: 'DFT', inputs: ['x'], outputs: ['f1'], attributes: { axis: { kind: 'int', value: 1 } } },
        { opType: 'DFT', inputs: ['f1'], outputs: ['f2'], attributes: { axis: { kind: 'int', value: 2 } } },
        { opType: 'Mul', inputs: ['f2', 'f2'], outputs: ['sq'] },
        { opType: 'ReduceSum', inputs: ['sq', 'axes'], outputs: ['p'], attributes: { keepdims: { kind: 'int', value: 0 } } },
      ],
    });
    const session = await ort.InferenceSession.create(bytes);
    const x = new Float32Array(n * n);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) x[r * n + c] = Math.cos((2 * Math.PI * 2 * c) / n);
    const out = await session.run({ x: new ort.Tensor('float32', x, [1, n, n, 1]) });
    const p = out.p?.data as Float32Array;
    // A horizontal cosine of frequency 2: energy (n²/2)² at (0, 2) and (0, 6), nothing elsewhere.
    assert.ok(Math.abs((p[2] ?? 0) - ((n * n) / 2) ** 2) < 1e-2);
    assert.ok(Math.abs((p[6] ?? 0) - ((n * n) / 2) ** 2) < 1e-2);
    assert.ok((p[1] ?? 1) < 1e-6 && (p[9] ?? 1) < 1e-6);
  });

  it('is deterministic', () => {
    const spec = { graphName: 'g', opset: 17, inputs: [], outputs: [], initializers: [floatTensor('a', [2], [1, 2])], nodes: [] };
    assert.deepEqual(encodeModel(spec), encodeModel(spec));
  });
});
