/**
 * The text-alignment reward (LongCLIP's role in RealGen): a dual encoder, one ONNX graph per tower, described by
 * `align.json`. Images are preprocessed like the detectors (decode, resize chain, scale, mean/std, CHW); prompts go
 * through the realgen-mini tokenizer. The score is the cosine of the two embeddings, in [−1, 1].
 *
 * Unlike LongCLIP's unnormalised dot product / 100, this is a cosine; the scale does not matter because each reward
 * key is z-scored per prompt group before the advantages are combined (spec §2.2).
 */
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { mapLimit } from '../detectors/onnx-detector';
import { decodeToRgb, resizeRgb, type DecodeLimits, type ResizeStep, type RgbImage } from '../image/decode';
import { sessionOptions, type SessionTuning } from '../onnx/session-options';
import { rgbToChw } from '../image/tensor';
import { readJsonFile, resolveBeside } from '../json-file';
import { NormalisationShape, ResizeChainSchema } from '../image/preprocess-schema';
import type { Tokenizer } from '../../domain/mini/tokenizer';
import { loadTokenizer } from './tokenizer-file';

const dim = z.union([z.number().int(), z.string()]);

/**
 * `align.json`, as `tools/python/train_align.py` writes it. Keys not listed here (training provenance such as
 * `params`, `trainSteps`, `learnedTemperature`) are accepted and ignored.
 */
export const AlignManifestSchema = z.object({
  name: z.string().min(1),
  /** Image tower ONNX file, relative to the manifest. */
  imageOnnx: z.string().min(1),
  /** Text tower ONNX file, relative to the manifest. */
  textOnnx: z.string().min(1),
  image: z.object({
    /** Graph input name. */
    input: z.string().min(1),
    /** [N, 3, H, W] as exported; checked against the resize chain when present. */
    shape: z.array(dim).length(4).optional(),
    dtype: z.literal('float32').optional(),
    layout: z.literal('NCHW').default('NCHW'),
    colorOrder: z.enum(['RGB', 'BGR']).default('RGB'),
    /** Centre-crop to a square before the first resize (the trainer's preprocessing). @default false */
    centerCropSquare: z.boolean().default(false),
    resize: ResizeChainSchema,
    ...NormalisationShape,
    /** Graph output name of the embedding. */
    output: z.string().min(1),
  }),
  text: z.object({
    input: z.string().min(1),
    /** [N, maxLen]; maxLen must match the tokenizer's. */
    shape: z.array(dim).length(2).optional(),
    dtype: z.literal('int64').optional(),
    /** Tokenizer JSON, relative to the manifest. */
    tokenizer: z.string().min(1),
    output: z.string().min(1),
  }),
  embeddingDim: z.number().int().positive().optional(),
});
export type AlignManifest = z.output<typeof AlignManifestSchema>;

/** A prompt to align with: the text, and optionally its RealBench category (a token the text tower was trained with). */
export interface AlignPrompt {
  text: string;
  category?: string | null;
}

/** One image–prompt cosine, or why it could not be computed. */
export type AlignResult = { ok: true; score: number } | { ok: false; error: string };

export interface AlignmentOptions extends SessionTuning, DecodeLimits {
  /** Largest batch per `session.run`. @default 32 */
  maxBatch?: number;
  /** Images decoded concurrently. @default 2 */
  decodeConcurrency?: number;
}

/** A validated manifest with its files resolved and the resize chain the image tower expects. */
export interface ResolvedAlignManifest {
  manifest: AlignManifest;
  imageOnnxPath: string;
  textOnnxPath: string;
  tokenizerPath: string;
  /** The resize chain with `centerCropSquare` folded in. */
  chain: ResizeStep[];
  /** [height, width] of the image input. */
  size: [number, number];
}

/** Reads and validates `align.json`; errors name the file and each problem's path. */
export function readAlignManifest(file: string): ResolvedAlignManifest {
  const data = readJsonFile(file, AlignManifestSchema, 'alignment manifest');
  const m = data;
  const chain: ResizeStep[] = m.image.resize.map((s) => ({ ...s, size: [s.size[0], s.size[1]] }));
  const first = chain[0] as ResizeStep;
  if (m.image.centerCropSquare) {
    // Centre-crop to a square, then resize to a square = one `cover` resize to that square.
    if (first.size[0] !== first.size[1]) {
      throw new Error(`${file}: image.centerCropSquare needs a square first resize step, got ${first.size.join('×')}`);
    }
    first.mode = 'cover';
  }
  const last = chain[chain.length - 1] as ResizeStep;
  const size: [number, number] = [last.size[0], last.size[1]];
  const shape = m.image.shape;
  if (shape !== undefined && (shape[1] !== 3 || shape[2] !== size[0] || shape[3] !== size[1])) {
    throw new Error(
      `${file}: image.shape ${JSON.stringify(shape)} disagrees with the resize chain ending at ${size.join('×')} (expected [N, 3, ${size[0]}, ${size[1]}])`,
    );
  }
  return {
    manifest: m,
    imageOnnxPath: resolveBeside(file, m.imageOnnx, 'imageOnnx'),
    textOnnxPath: resolveBeside(file, m.textOnnx, 'textOnnx'),
    tokenizerPath: resolveBeside(file, m.text.tokenizer, 'text.tokenizer'),
    chain,
    size,
  };
}

export class AlignmentScorer {
  readonly name: string;
  private readonly maxBatch: number;
  private readonly decodeConcurrency: number;

  private constructor(
    readonly resolved: ResolvedAlignManifest,
    readonly tokenizer: Tokenizer,
    private readonly imageSession: ort.InferenceSession,
    private readonly textSession: ort.InferenceSession,
    readonly provider: 'cuda' | 'cpu',
    private readonly options: AlignmentOptions,
  ) {
    this.name = resolved.manifest.name;
    this.maxBatch = options.maxBatch ?? 32;
    this.decodeConcurrency = options.decodeConcurrency ?? 2;
  }

  /** Loads `align.json`, both towers and the tokenizer; refuses a manifest that disagrees with the graphs. */
  static async load(manifestFile: string, options: AlignmentOptions = {}): Promise<AlignmentScorer> {
    const resolved = readAlignManifest(manifestFile);
    let tokenizer: Tokenizer;
    try {
      tokenizer = loadTokenizer(resolved.tokenizerPath);
    } catch (err) {
      throw new Error(`${manifestFile}: text.tokenizer: ${(err as Error).message}`);
    }
    const { options: so, provider } = sessionOptions(options);
    const open = async (field: string, file: string) => {
      try {
        return await ort.InferenceSession.create(file, so);
      } catch (err) {
        throw new Error(`${manifestFile}: ${field}: cannot load ${file}: ${(err as Error).message}`);
      }
    };
    const [imageSession, textSession] = await Promise.all([
      open('imageOnnx', resolved.imageOnnxPath),
      open('textOnnx', resolved.textOnnxPath),
    ]);
    try {
      checkAgainstGraphs(manifestFile, resolved, tokenizer, imageSession, textSession);
    } catch (err) {
      await Promise.all([imageSession.release(), textSession.release()]);
      throw err;
    }
    return new AlignmentScorer(resolved, tokenizer, imageSession, textSession, provider, options);
  }

  /** Image-tower input tensor (CHW float) for one RGB image already at the input size. */
  toTensor(image: RgbImage): Float32Array {
    const { colorOrder, scale, mean, std } = this.resolved.manifest.image;
    return rgbToChw(image, { size: this.resolved.size, colorOrder, scale, mean, std });
  }

  /** Decodes and preprocesses encoded bytes; throws `ImageInputError` for bad input. */
  async preprocess(buf: Buffer): Promise<Float32Array> {
    return this.toTensor(await decodeToRgb(buf, this.resolved.chain, this.options));
  }

  /** Preprocesses an RGB image already in memory. */
  async preprocessRgb(image: RgbImage): Promise<Float32Array> {
    return this.toTensor(await resizeRgb(image, this.resolved.chain));
  }

  /**
   * Cosine of image i and prompt i for every i. A bad image or an unknown category is that item's error; the rest
   * still score. Images and prompts must have the same length.
   */
  async scoreEach(images: Buffer[] | RgbImage[], prompts: AlignPrompt[]): Promise<AlignResult[]> {
    if (images.length !== prompts.length)
      throw new Error(`expected one prompt per image, got ${images.length} images and ${prompts.length} prompts`);
    const errors: Array<string | null> = new Array<string | null>(images.length).fill(null);
    const tensors = await mapLimit(images as Array<Buffer | RgbImage>, this.decodeConcurrency, async (img, i) => {
      try {
        return Buffer.isBuffer(img) ? await this.preprocess(img) : await this.preprocessRgb(img);
      } catch (err) {
        errors[i] = (err as Error).message;
        return null;
      }
    });
    const tokens = prompts.map((p, i) => {
      try {
        return this.tokenizer.encode(p.text, p.category);
      } catch (err) {
        errors[i] ??= `prompt: ${(err as Error).message}`;
        return null;
      }
    });
    const good = images.map((_, i) => i).filter((i) => errors[i] === null);
    const imageEmb = await this.embedImages(good.map((i) => tensors[i] as Float32Array));
    const textEmb = await this.embedTokens(good.map((i) => tokens[i] as number[]));
    const out: AlignResult[] = errors.map((e) => ({ ok: false, error: e ?? 'not scored' }));
    good.forEach((itemIndex, k) => {
      const score = cosine(imageEmb[k] as Float32Array, textEmb[k] as Float32Array);
      out[itemIndex] = Number.isFinite(score)
        ? { ok: true, score }
        : { ok: false, error: 'an embedding has zero length; the cosine is undefined' };
    });
    return out;
  }

  /** Cosines as plain numbers; throws naming the first item that could not be scored. */
  async score(images: Buffer[] | RgbImage[], prompts: AlignPrompt[]): Promise<number[]> {
    const results = await this.scoreEach(images, prompts);
    return results.map((r, i) => {
      if (!r.ok) throw new Error(`images[${i}]: ${r.error}`);
      return r.score;
    });
  }

  /** Image-tower embeddings of preprocessed tensors. */
  async embedImages(tensors: Float32Array[]): Promise<Float32Array[]> {
    const { input, output } = this.resolved.manifest.image;
    const [h, w] = this.resolved.size;
    const per = 3 * h * w;
    const out: Float32Array[] = [];
    for (let start = 0; start < tensors.length; start += this.maxBatch) {
      const chunk = tensors.slice(start, start + this.maxBatch);
      const data = new Float32Array(chunk.length * per);
      chunk.forEach((t, i) => data.set(t, i * per));
      const result = await this.imageSession.run({ [input]: new ort.Tensor('float32', data, [chunk.length, 3, h, w]) });
      out.push(...rows(this.name, output, result[output], chunk.length));
    }
    return out;
  }

  /** Text-tower embeddings of token id rows (each of length tokenizer.maxLen). */
  async embedTokens(tokenRows: number[][]): Promise<Float32Array[]> {
    const { input, output } = this.resolved.manifest.text;
    const len = this.tokenizer.maxLen;
    const out: Float32Array[] = [];
    for (let start = 0; start < tokenRows.length; start += this.maxBatch) {
      const chunk = tokenRows.slice(start, start + this.maxBatch);
      const data = new BigInt64Array(chunk.length * len);
      chunk.forEach((ids, i) => ids.forEach((id, j) => (data[i * len + j] = BigInt(id))));
      const result = await this.textSession.run({ [input]: new ort.Tensor('int64', data, [chunk.length, len]) });
      out.push(...rows(this.name, output, result[output], chunk.length));
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([this.imageSession.release(), this.textSession.release()]);
  }
}

/** Cosine similarity; NaN when either vector has zero length. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? NaN : dot / Math.sqrt(na * nb);
}

function rows(model: string, name: string, tensor: ort.Tensor | undefined, n: number): Float32Array[] {
  if (tensor === undefined) throw new Error(`${model}: graph returned no ${name}`);
  const data = tensor.data as Float32Array;
  const width = data.length / n;
  return Array.from({ length: n }, (_, i) => data.slice(i * width, (i + 1) * width));
}

function checkAgainstGraphs(
  file: string,
  r: ResolvedAlignManifest,
  tokenizer: Tokenizer,
  image: ort.InferenceSession,
  text: ort.InferenceSession,
): void {
  const problems: string[] = [];
  const m = r.manifest;
  const imageIn = image.inputMetadata.find((x) => x.name === m.image.input);
  if (!imageIn)
    problems.push(`image.input "${m.image.input}" is not an input of ${m.imageOnnx} (it has ${image.inputNames.join(', ')})`);
  else if (imageIn.isTensor) {
    const [, c, h, w] = imageIn.shape;
    const fits = (d: number | string | undefined, want: number) => typeof d !== 'number' || d < 0 || d === want;
    if (imageIn.shape.length !== 4)
      problems.push(`${m.imageOnnx} input has rank ${imageIn.shape.length}; expected NCHW (rank 4)`);
    else if (!fits(c, 3) || !fits(h, r.size[0]) || !fits(w, r.size[1])) {
      problems.push(`image tower takes ${imageIn.shape.join('×')} but the resize chain gives 3×${r.size.join('×')}`);
    }
  }
  const textIn = text.inputMetadata.find((x) => x.name === m.text.input);
  if (!textIn)
    problems.push(`text.input "${m.text.input}" is not an input of ${m.textOnnx} (it has ${text.inputNames.join(', ')})`);
  else if (textIn.isTensor) {
    const len = textIn.shape[1];
    if (typeof len === 'number' && len > 0 && len !== tokenizer.maxLen)
      problems.push(`text tower takes ${len} tokens but the tokenizer gives ${tokenizer.maxLen}`);
  }
  const shapeLen = m.text.shape?.[1];
  if (typeof shapeLen === 'number' && shapeLen !== tokenizer.maxLen)
    problems.push(`text.shape says ${shapeLen} tokens but the tokenizer gives ${tokenizer.maxLen}`);
  const imageOut = image.outputMetadata.find((x) => x.name === m.image.output);
  const textOut = text.outputMetadata.find((x) => x.name === m.text.output);
  if (!imageOut)
    problems.push(`image.output "${m.image.output}" is not an output of ${m.imageOnnx} (it has ${image.outputNames.join(', ')})`);
  if (!textOut)
    problems.push(`text.output "${m.text.output}" is not an output of ${m.textOnnx} (it has ${text.outputNames.join(', ')})`);
  if (imageOut?.isTensor && textOut?.isTensor) {
    const a = imageOut.shape[imageOut.shape.length - 1];
    const b = textOut.shape[textOut.shape.length - 1];
    if (typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0 && a !== b)
      problems.push(`image embedding has ${a} dims but text embedding has ${b}`);
    if (m.embeddingDim !== undefined && typeof a === 'number' && a > 0 && a !== m.embeddingDim)
      problems.push(`embeddingDim is ${m.embeddingDim} but the image tower gives ${a}`);
  }
  if (problems.length > 0) throw new Error(`${file}: manifest does not match the graphs: ${problems.join('; ')}`);
}
