/**
 * An ONNX detector run by onnxruntime-node: manifest-driven preprocessing, a load-time check that the manifest
 * matches the graph, and P(real) per image. Bad images become per-item errors; the rest of the batch still scores.
 */
import * as ort from 'onnxruntime-node';
import { decodeToRgb, ImageInputError, resizeRgb, type DecodeLimits, type RgbImage } from '../image/decode';
import { rgbToChw } from '../image/tensor';
import { sessionOptions, type SessionTuning } from '../onnx/session-options';
import type { Detector, ScoreResult } from './detector';
import { readDetectorManifest, type DetectorManifest } from './detector-manifest';

export interface OnnxDetectorOptions extends SessionTuning, DecodeLimits {
  /** Largest batch per `session.run`. @default 32 */
  maxBatch?: number;
  /** Images decoded concurrently. @default 4 */
  decodeConcurrency?: number;
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  });
  await Promise.all(workers);
  return results;
}

export class OnnxDetector implements Detector {
  readonly name: string;
  readonly provider: 'cuda' | 'cpu';
  private readonly maxBatch: number;
  private readonly decodeConcurrency: number;

  private constructor(
    readonly manifest: DetectorManifest,
    private readonly session: ort.InferenceSession,
    provider: 'cuda' | 'cpu',
    private readonly options: OnnxDetectorOptions,
  ) {
    this.name = manifest.name;
    this.provider = provider;
    this.maxBatch = options.maxBatch ?? 32;
    this.decodeConcurrency = options.decodeConcurrency ?? 4;
  }

  /** Loads a detector from its manifest file; refuses a manifest that disagrees with the graph. */
  static async load(manifestFile: string, options: OnnxDetectorOptions = {}): Promise<OnnxDetector> {
    const { manifest, onnxPath } = readDetectorManifest(manifestFile);
    const { options: so, provider } = sessionOptions(options);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(onnxPath, so);
    } catch (err) {
      throw new Error(`${manifestFile}: cannot load ${onnxPath}: ${(err as Error).message}`);
    }
    checkAgainstGraph(manifestFile, manifest, session);
    return new OnnxDetector(manifest, session, provider, options);
  }

  /** Model input tensor (CHW float) for one RGB image already at the input size. */
  toTensor(image: RgbImage): Float32Array {
    return rgbToChw(image, this.manifest.input);
  }

  /** Decodes and preprocesses encoded bytes; throws `ImageInputError` for bad input. */
  async preprocess(buf: Buffer): Promise<Float32Array> {
    return this.toTensor(await decodeToRgb(buf, this.manifest.input.resize, this.options));
  }

  /** Preprocesses an RGB image already in memory (generated images: no encode/decode round trip). */
  async preprocessRgb(image: RgbImage): Promise<Float32Array> {
    return this.toTensor(await resizeRgb(image, this.manifest.input.resize));
  }

  /** P(real) for preprocessed tensors, in batches of at most `maxBatch`. */
  async inferTensors(tensors: Float32Array[]): Promise<number[]> {
    const [h, w] = this.manifest.input.size;
    const per = 3 * h * w;
    const out: number[] = [];
    for (let start = 0; start < tensors.length; start += this.maxBatch) {
      const chunk = tensors.slice(start, start + this.maxBatch);
      const data = new Float32Array(chunk.length * per);
      chunk.forEach((t, i) => data.set(t, i * per));
      const result = await this.session.run({
        [this.manifest.input.name]: new ort.Tensor('float32', data, [chunk.length, 3, h, w]),
      });
      const y = result[this.manifest.output.name];
      if (y === undefined) throw new Error(`${this.name}: graph returned no ${this.manifest.output.name}`);
      out.push(...toPReal(y.data as Float32Array, chunk.length, this.manifest.output));
    }
    return out;
  }

  async scoreEncoded(images: Buffer[]): Promise<ScoreResult[]> {
    const prepared = await mapLimit(images, this.decodeConcurrency, async (buf) => {
      try {
        return await this.preprocess(buf);
      } catch (err) {
        if (err instanceof ImageInputError) return err;
        throw err;
      }
    });
    return await this.scorePrepared(prepared);
  }

  /** Scores RGB images in memory. */
  async scoreRgb(images: RgbImage[]): Promise<ScoreResult[]> {
    return await this.scorePrepared(await mapLimit(images, this.decodeConcurrency, (img) => this.preprocessRgb(img)));
  }

  private async scorePrepared(prepared: Array<Float32Array | Error>): Promise<ScoreResult[]> {
    const good = prepared.filter((p): p is Float32Array => p instanceof Float32Array);
    const scores = await this.inferTensors(good);
    let k = 0;
    return prepared.map((p) =>
      p instanceof Float32Array ? { ok: true, pReal: scores[k++] ?? NaN } : { ok: false, error: p.message },
    );
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Turns the output rows into P(real) per the manifest's output kind. */
export function toPReal(data: Float32Array, n: number, output: DetectorManifest['output']): number[] {
  const width = data.length / n;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const row = data.subarray(i * width, (i + 1) * width);
    if (output.kind === 'sigmoid') {
      out.push(1 / (1 + Math.exp(-(row[0] ?? 0))));
    } else if (output.kind === 'probabilities') {
      out.push(row[output.realIndex] ?? NaN);
    } else {
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      out.push(Math.exp((row[output.realIndex] ?? -Infinity) - max) / sum);
    }
  }
  return out;
}

function checkAgainstGraph(file: string, manifest: DetectorManifest, session: ort.InferenceSession): void {
  const problems: string[] = [];
  const input = session.inputMetadata.find((m) => m.name === manifest.input.name);
  if (!input)
    problems.push(`input.name "${manifest.input.name}" is not a graph input (graph has ${session.inputNames.join(', ')})`);
  else if (input.isTensor) {
    const shape = input.shape;
    const [h, w] = manifest.input.size;
    if (shape.length !== 4) problems.push(`graph input has rank ${shape.length}; expected NCHW (rank 4)`);
    else {
      const fixed = (d: number | string | undefined, want: number) => typeof d !== 'number' || d === want || d < 0;
      if (!fixed(shape[1], 3)) problems.push(`graph input has ${String(shape[1])} channels; expected 3`);
      if (!fixed(shape[2], h) || !fixed(shape[3], w)) {
        problems.push(`input.size is ${h}×${w} but the graph takes ${String(shape[2])}×${String(shape[3])}`);
      }
    }
  }
  const output = session.outputMetadata.find((m) => m.name === manifest.output.name);
  if (!output)
    problems.push(`output.name "${manifest.output.name}" is not a graph output (graph has ${session.outputNames.join(', ')})`);
  else if (output.isTensor) {
    const last = output.shape[output.shape.length - 1];
    if (typeof last === 'number' && last > 0 && manifest.output.realIndex >= last) {
      problems.push(`output.realIndex ${manifest.output.realIndex} is outside the graph's ${last} outputs`);
    }
  }
  if (problems.length > 0) throw new Error(`${file}: manifest does not match the graph: ${problems.join('; ')}`);
}
