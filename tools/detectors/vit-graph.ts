/**
 * A synthetic-image detector graph with the compute of a CLIP vision transformer (the production detectors are
 * CLIP-ViT-sized: OmniAID is ViT-L/14 at 336 px), authored as ONNX from TypeScript with random weights. It exists to
 * measure cost, not to detect anything: patch embedding (Conv k=p, s=p), learned position embeddings, `depth`
 * pre-norm blocks (multi-head self-attention + GELU MLP), final LayerNorm, mean pooling over tokens, and a 2-logit
 * head. Mean pooling stands in for the class token (one token fewer: 196 vs 197 at ViT-B/16, a 0.5% cost difference).
 */
import { Rng } from '../../lib/random';
import { DataType, floatTensor, int64Tensor, type ModelSpec, type NodeSpec, type TensorSpec } from '../../infra/onnx/onnx-writer';

/** The transformer's shape. */
export interface VitShape {
  /** Input side in pixels (square). */
  size: number;
  /** Patch side in pixels. */
  patch: number;
  /** Token width. */
  dim: number;
  depth: number;
  heads: number;
  /** MLP hidden width = mlpRatio × dim. */
  mlpRatio: number;
}

/** The two shapes the benchmarks use: CPU-sized ViT-B/16 at 224 px, and OmniAID's ViT-L/14 at 336 px for GPUs. */
export const VIT_PRESETS = {
  'vit-b16-224': { size: 224, patch: 16, dim: 768, depth: 12, heads: 12, mlpRatio: 4 },
  'vit-l14-336': { size: 336, patch: 14, dim: 1024, depth: 24, heads: 16, mlpRatio: 4 },
} as const satisfies Record<string, VitShape>;
export type VitPreset = keyof typeof VIT_PRESETS;

/** Parameters and multiply-accumulates per image of a shape (MACs of matmuls and the patch conv). */
export function vitCost(shape: VitShape): { params: number; macsPerImage: number } {
  const t = (shape.size / shape.patch) ** 2;
  const d = shape.dim;
  const h = shape.mlpRatio * d;
  const perBlock = 4 * d * d + 2 * d * h;
  const params = 3 * shape.patch ** 2 * d + t * d + shape.depth * (perBlock + 9 * d + h) + 2 * d + 2 * d + 2;
  const macs = t * 3 * shape.patch ** 2 * d + shape.depth * (t * perBlock + 2 * t * t * d) + d * 2;
  return { params, macsPerImage: macs };
}

/**
 * The ONNX model of `shape` with weights drawn from N(0, 0.02²) by a seeded generator (same seed, same bytes).
 * Input `image` [N, 3, size, size] float; output `logits` [N, 2].
 */
export function vitDetectorModel(shape: VitShape, seed = 7): ModelSpec {
  const { size, patch, dim, depth, heads, mlpRatio } = shape;
  if (size % patch !== 0) throw new Error(`vit: size ${size} is not a multiple of patch ${patch}`);
  if (dim % heads !== 0) throw new Error(`vit: dim ${dim} is not a multiple of heads ${heads}`);
  const tokens = (size / patch) ** 2;
  const headDim = dim / heads;
  const hidden = mlpRatio * dim;
  const rng = Rng.fromSeed(seed, 'vit-detector');
  const nodes: NodeSpec[] = [];
  const inits: TensorSpec[] = [];
  const random = (name: string, dims: number[], std = 0.02): string => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    rng.fillNormal(data);
    for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) * std;
    inits.push({ name, dims, dataType: DataType.FLOAT, data });
    return name;
  };
  const constant = (name: string, dims: number[], value: number): string => {
    inits.push(floatTensor(name, dims, new Array<number>(dims.reduce((a, b) => a * b, 1)).fill(value)));
    return name;
  };
  let n = 0;
  const op = (opType: string, inputs: string[], attributes?: NodeSpec['attributes']): string => {
    const out = `t${n++}`;
    nodes.push({ opType, inputs, outputs: [out], ...(attributes ? { attributes } : {}) });
    return out;
  };
  const ints = (value: number[]) => ({ kind: 'ints' as const, value });
  const layerNorm = (x: string, name: string): string =>
    op('LayerNormalization', [x, constant(`${name}.g`, [dim], 1), constant(`${name}.b`, [dim], 0)], {
      axis: { kind: 'int', value: -1 },
      epsilon: { kind: 'float', value: 1e-5 },
    });
  const linear = (x: string, name: string, din: number, dout: number): string =>
    op('Add', [op('MatMul', [x, random(`${name}.w`, [din, dout])]), constant(`${name}.b`, [dout], 0)]);

  inits.push(
    int64Tensor('shape.tokens', [3], [0, dim, tokens]),
    int64Tensor('shape.heads', [4], [0, tokens, heads, headDim]),
    int64Tensor('shape.merge', [3], [0, tokens, dim]),
    int64Tensor('axes.tokens', [1], [1]),
  );
  const sqrtHalf = constant('gelu.sqrt_half', [], Math.SQRT1_2);
  const half = constant('gelu.half', [], 0.5);
  const one = constant('gelu.one', [], 1);
  const scale = constant('attn.scale', [], 1 / Math.sqrt(headDim));

  // Patch embedding: [N,3,S,S] → [N,dim,S/p,S/p] → [N,tokens,dim], plus position embeddings.
  const conv = op('Conv', ['image', random('patch.w', [dim, 3, patch, patch]), constant('patch.b', [dim], 0)], {
    kernel_shape: ints([patch, patch]),
    strides: ints([patch, patch]),
  });
  let x = op('Add', [
    op('Transpose', [op('Reshape', [conv, 'shape.tokens'])], { perm: ints([0, 2, 1]) }),
    random('pos', [1, tokens, dim]),
  ]);

  for (let b = 0; b < depth; b++) {
    const p = `block${b}`;
    const h1 = layerNorm(x, `${p}.ln1`);
    const split = (t: string, perm: number[]) => op('Transpose', [op('Reshape', [t, 'shape.heads'])], { perm: ints(perm) });
    const q = split(linear(h1, `${p}.q`, dim, dim), [0, 2, 1, 3]); // [N,H,T,d]
    const k = split(linear(h1, `${p}.k`, dim, dim), [0, 2, 3, 1]); // [N,H,d,T]
    const v = split(linear(h1, `${p}.v`, dim, dim), [0, 2, 1, 3]); // [N,H,T,d]
    const attn = op('Softmax', [op('Mul', [op('MatMul', [q, k]), scale])], { axis: { kind: 'int', value: -1 } });
    const merged = op('Reshape', [op('Transpose', [op('MatMul', [attn, v])], { perm: ints([0, 2, 1, 3]) }), 'shape.merge']);
    x = op('Add', [x, linear(merged, `${p}.o`, dim, dim)]);
    const h2 = linear(layerNorm(x, `${p}.ln2`), `${p}.fc1`, dim, hidden);
    // GELU (erf form); ONNX Runtime fuses this pattern into its Gelu kernel.
    const gelu = op('Mul', [op('Mul', [h2, half]), op('Add', [op('Erf', [op('Mul', [h2, sqrtHalf])]), one])]);
    x = op('Add', [x, linear(gelu, `${p}.fc2`, hidden, dim)]);
  }
  const pooled = op('ReduceMean', [layerNorm(x, 'final.ln'), 'axes.tokens'], { keepdims: { kind: 'int', value: 0 } });
  const logits = linear(pooled, 'head', dim, 2);
  nodes.push({ opType: 'Identity', inputs: [logits], outputs: ['logits'] });
  return {
    graphName: 'vit-detector',
    opset: 18,
    inputs: [{ name: 'image', dataType: DataType.FLOAT, shape: ['N', 3, size, size] }],
    outputs: [{ name: 'logits', dataType: DataType.FLOAT, shape: ['N', 2] }],
    initializers: inits,
    nodes,
    docString: `ViT detector stand-in (random weights, for cost only): ${JSON.stringify(shape)}`,
  };
}

/** The detector manifest (infra/detectors/detector-manifest.ts) of a ViT graph written as `onnxFile`. */
export function vitDetectorManifest(name: string, shape: VitShape, onnxFile: string): Record<string, unknown> {
  const { params, macsPerImage } = vitCost(shape);
  return {
    name,
    role: 'reward',
    onnx: onnxFile,
    input: {
      name: 'image',
      size: [shape.size, shape.size],
      layout: 'NCHW',
      colorOrder: 'RGB',
      resize: [{ size: [shape.size, shape.size], mode: 'cover', kernel: 'cubic' }],
      scale: 1 / 255,
      // CLIP's normalisation constants.
      mean: [0.4815, 0.4578, 0.4082],
      std: [0.2686, 0.2613, 0.2758],
    },
    output: { name: 'logits', kind: 'logits', realIndex: 0 },
    description: 'Random-weight ViT with the compute of a CLIP vision tower; measures cost only, detects nothing.',
    info: { shape, params, macsPerImage, weights: 'random N(0, 0.02²), seeded; no model hub involved' },
  };
}
