/**
 * The feature-level spectral detector, authored as an ONNX graph from TypeScript:
 * grey (Conv 1×1) → Hann window → 2-D DFT → log power → radial-frequency bins (MatMul) → [standardise →
 * logistic head (Gemm)]. Generated images of small flow models lack the natural 1/f² high-frequency falloff and
 * carry periodic upsampling traces; the radial log-power profile sees both, and is cheap.
 */
import {
  DataType,
  encodeModel,
  floatTensor,
  int64Tensor,
  type ModelSpec,
  type NodeSpec,
  type TensorSpec,
} from '../onnx/onnx-writer';

/** The fitted head on standardised features: logit(real) = w·((f − mean)/std) + b. */
export interface SpectralHead {
  mean: number[];
  std: number[];
  weights: number[];
  bias: number;
}

/** Edges of `bins` radial bins between the first non-DC frequency and the corner of a size×size spectrum. */
export function radialBinMatrix(size: number, bins: number): { matrix: Float32Array; counts: number[] } {
  const rMax = Math.hypot(size / 2, size / 2) + 1e-6;
  const lo = 0.5; // excludes the DC term, which only says how bright the image is
  const counts = new Array<number>(bins).fill(0);
  const binOf = new Int32Array(size * size).fill(-1);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const r = Math.hypot(Math.min(y, size - y), Math.min(x, size - x));
      if (r < lo) continue;
      const b = Math.min(bins - 1, Math.floor(((r - lo) / (rMax - lo)) * bins));
      binOf[y * size + x] = b;
      counts[b]! += 1;
    }
  }
  const matrix = new Float32Array(size * size * bins);
  binOf.forEach((b, i) => {
    if (b >= 0) matrix[i * bins + b] = 1 / counts[b]!;
  });
  return { matrix, counts };
}

/** Builds the ONNX bytes: features only (output `features` [N,bins]) or with the head (output `logits` [N,2], index 0 = real). */
export function buildSpectralDetector(size: number, bins: number, head: SpectralHead | null): Uint8Array {
  const hann = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      hann[y * size + x] = (0.5 - 0.5 * Math.cos((2 * Math.PI * y) / size)) * (0.5 - 0.5 * Math.cos((2 * Math.PI * x) / size));
    }
  }
  const { matrix } = radialBinMatrix(size, bins);
  const initializers: TensorSpec[] = [
    floatTensor('grey_w', [1, 3, 1, 1], [0.299, 0.587, 0.114]),
    floatTensor('hann', [1, 1, size, size], hann),
    int64Tensor('shape_sig', [4], [-1, size, size, 1]),
    int64Tensor('shape_flat', [2], [-1, size * size]),
    int64Tensor('axis_complex', [1], [3]),
    floatTensor('eps', [1], [1e-6]),
    floatTensor('bins', [size * size, bins], matrix),
  ];
  const nodes: NodeSpec[] = [
    { opType: 'Conv', inputs: ['image', 'grey_w'], outputs: ['grey'] },
    { opType: 'Mul', inputs: ['grey', 'hann'], outputs: ['windowed'] },
    { opType: 'Reshape', inputs: ['windowed', 'shape_sig'], outputs: ['signal'] },
    { opType: 'DFT', inputs: ['signal'], outputs: ['f_rows'], attributes: { axis: { kind: 'int', value: 1 } } },
    { opType: 'DFT', inputs: ['f_rows'], outputs: ['f_2d'], attributes: { axis: { kind: 'int', value: 2 } } },
    { opType: 'Mul', inputs: ['f_2d', 'f_2d'], outputs: ['re_im_sq'] },
    {
      opType: 'ReduceSum',
      inputs: ['re_im_sq', 'axis_complex'],
      outputs: ['power'],
      attributes: { keepdims: { kind: 'int', value: 0 } },
    },
    { opType: 'Add', inputs: ['power', 'eps'], outputs: ['power_eps'] },
    { opType: 'Log', inputs: ['power_eps'], outputs: ['log_power'] },
    { opType: 'Reshape', inputs: ['log_power', 'shape_flat'], outputs: ['log_flat'] },
    { opType: 'MatMul', inputs: ['log_flat', 'bins'], outputs: ['features'] },
  ];
  const spec: ModelSpec = {
    graphName: 'spectral-detector',
    opset: 17,
    inputs: [{ name: 'image', dataType: DataType.FLOAT, shape: ['N', 3, size, size] }],
    outputs: [{ name: head ? 'logits' : 'features', dataType: DataType.FLOAT, shape: head ? ['N', 2] : ['N', bins] }],
    initializers,
    nodes,
    docString: 'realgen-mini feature-level detector: radial log-power spectrum + logistic head (index 0 = real)',
  };
  if (head) {
    // logits = [z/2, −z/2] so that softmax(logits)[0] = σ(z) = P(real).
    const w = new Float32Array(bins * 2);
    head.weights.forEach((v, j) => {
      w[j * 2] = v / 2;
      w[j * 2 + 1] = -v / 2;
    });
    initializers.push(floatTensor('feat_mean', [bins], head.mean), floatTensor('feat_std', [bins], head.std));
    initializers.push(
      { name: 'head_w', dims: [bins, 2], dataType: DataType.FLOAT, data: w },
      floatTensor('head_b', [2], [head.bias / 2, -head.bias / 2]),
    );
    nodes.push(
      { opType: 'Sub', inputs: ['features', 'feat_mean'], outputs: ['centred'] },
      { opType: 'Div', inputs: ['centred', 'feat_std'], outputs: ['standardised'] },
      { opType: 'Gemm', inputs: ['standardised', 'head_w', 'head_b'], outputs: ['logits'] },
    );
  }
  return encodeModel(spec);
}
