/**
 * The realgen-mini generator: a small text-conditioned rectified-flow network in ONNX, described by
 * `models/realgen-mini/generator.json`. Inputs `x` [N,3,S,S] in [-1,1] space, `sigma` [N], `tokens` int64 [N,L];
 * output the velocity `v` [N,3,S,S].
 */
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { readJsonFile, resolveBeside } from '../json-file';
import { sessionOptions, type SessionTuning } from '../onnx/session-options';

export const GeneratorSpecSchema = z.looseObject({
  onnx: z.string().min(1),
  size: z.number().int().positive(),
  channels: z.literal(3),
  maxLen: z.number().int().positive(),
  /** Default number of sampling steps. */
  steps: z.number().int().positive(),
  /** Time shift of the σ schedule (1 = linear). @default 1 */
  shift: z.number().positive().nullable().optional(),
});
export type GeneratorSpec = z.infer<typeof GeneratorSpecSchema>;

export class MiniGenerator {
  /** Elements of one image (3·S·S). */
  readonly imageElements: number;
  /** Time-ORT spent in `session.run`, ms (for the overhead ratio). */
  runMs = 0;

  private constructor(
    readonly spec: GeneratorSpec,
    private readonly session: ort.InferenceSession,
    readonly provider: 'cuda' | 'cpu',
  ) {
    this.imageElements = 3 * spec.size * spec.size;
  }

  static async load(specFile: string, tuning: SessionTuning = {}): Promise<MiniGenerator> {
    const data = readJsonFile(specFile, GeneratorSpecSchema, 'generator description');
    const { options, provider } = sessionOptions(tuning);
    const session = await ort.InferenceSession.create(resolveBeside(specFile, data.onnx, 'onnx'), options);
    for (const name of ['x', 'sigma', 'tokens']) {
      if (!session.inputNames.includes(name))
        throw new Error(`${specFile}: generator graph lacks input "${name}" (has ${session.inputNames.join(', ')})`);
    }
    return new MiniGenerator(data, session, provider);
  }

  /** Velocity for a batch of n states. */
  async velocity(x: Float32Array, sigma: Float32Array, tokens: BigInt64Array, n: number): Promise<Float32Array> {
    const s = this.spec.size;
    const t0 = performance.now();
    const out = await this.session.run({
      x: new ort.Tensor('float32', x, [n, 3, s, s]),
      sigma: new ort.Tensor('float32', sigma, [n]),
      tokens: new ort.Tensor('int64', tokens, [n, this.spec.maxLen]),
    });
    this.runMs += performance.now() - t0;
    const v = out.v ?? out[this.session.outputNames[0] ?? 'v'];
    if (v === undefined) throw new Error('generator returned no output');
    return v.data as Float32Array;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
