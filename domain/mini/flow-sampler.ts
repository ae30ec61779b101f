/**
 * Samplers for the realgen-mini generator: the Euler ODE sampler and the Flow-GRPO SDE sampler, which takes SDE
 * steps inside a window and records each transition (x, x', base velocity) with its log-probability.
 * Batched: one `session.run` per step for the whole batch. Seeded: the same Rng state gives the same bytes,
 * whatever the batch size (draws are made image by image in a fixed order).
 */
import type { Rng } from '../../lib/random';
import type { RgbImage } from '../image/rgb-image';
import { gaussianLogProbMean, sdeCoefficients, sdeMean, sigmaSchedule } from './sde';
import type { Tokenizer } from './tokenizer';

/**
 * What the samplers need of a generator: its sampling settings and one batched velocity evaluation. The ONNX
 * realgen-mini generator (infra/mini/generator.ts) is one; tests use small ones.
 */
export interface VelocityModel {
  readonly spec: { steps: number; shift?: number | null | undefined; size: number };
  /** 3 × size × size. */
  readonly imageElements: number;
  velocity(x: Float32Array, sigma: Float32Array, tokens: BigInt64Array, n: number): Promise<Float32Array>;
}

export interface SamplePrompt {
  text: string;
  category?: string | null;
}

/** A recorded SDE transition of one image. */
export interface Transition {
  /** Index of the step in the schedule (σ = sigmas[step]). */
  step: number;
  sigma: number;
  sigmaNext: number;
  x: Float32Array;
  xNext: Float32Array;
  /** Base velocity of the frozen generator (adapter offset excluded). */
  v: Float32Array;
  /** Velocity offset that was added (adapter), if any. */
  offset?: Float32Array;
  /** Log-probability (D-mean convention) of x' under the step's Gaussian. */
  logProb: number;
}

export interface SampleOptions {
  rng: Rng;
  /** Sampling steps. @default the generator's */
  steps?: number;
  /** SDE noise level a. @default 0.9 */
  noiseLevel?: number;
  /** Steps [start, start+size) are SDE steps with recorded transitions; none when absent (pure ODE). */
  sdeWindow?: { start: number; size: number } | null;
  /**
   * Adds an offset to the velocity of image `index` at `sigma` (the stage-2 adapter); null for none. `x` and `v` are
   * the image's current state and base velocity (read-only), for adapters that filter the predicted clean image.
   */
  /**
   * Common random numbers: images with the same key share one initial noise (drawn at the key's first image, so
   * the Rng advances once per key). null or absent: one draw per image.
   */
  noiseGroups?: readonly string[] | null;
  velocityOffset?:
    ((index: number, sigma: number, stepIndex: number, x: Float32Array, v: Float32Array) => Float32Array | null) | null;
}

export interface SampleResult {
  /** Final images, CHW in [-1, 1] (unclamped). */
  images: Float32Array[];
  /** Per image, the transitions of the SDE window. */
  transitions: Transition[][];
  sigmas: number[];
}

/** Samples one image per prompt, in one batch. */
export async function sampleFlow(
  gen: VelocityModel,
  tokenizer: Tokenizer,
  prompts: SamplePrompt[],
  opts: SampleOptions,
): Promise<SampleResult> {
  const n = prompts.length;
  const D = gen.imageElements;
  const steps = opts.steps ?? gen.spec.steps;
  const sigmas = sigmaSchedule(steps, gen.spec.shift ?? 1);
  const sigmaMax = sigmas[1] ?? 1;
  const noiseLevel = opts.noiseLevel ?? 0.9;
  const window = opts.sdeWindow ?? null;
  if (window && (window.start < 0 || window.size < 1 || window.start + window.size > steps)) {
    throw new RangeError(`sdeWindow [${window.start}, ${window.start + window.size}) is outside the ${steps} steps`);
  }
  const tokens = tokenizer.encodeBatch(prompts);
  const x = new Float32Array(n * D);
  // Initial noise image by image, so results do not depend on how prompts are batched.
  const firstOfGroup = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = opts.noiseGroups?.[i];
    const first = key === undefined ? undefined : firstOfGroup.get(key);
    if (first !== undefined) x.copyWithin(i * D, first * D, (first + 1) * D);
    else {
      opts.rng.fillNormal(x.subarray(i * D, (i + 1) * D));
      if (key !== undefined) firstOfGroup.set(key, i);
    }
  }
  const transitions: Transition[][] = prompts.map(() => []);
  const sigmaBatch = new Float32Array(n);
  for (let k = 0; k < steps; k++) {
    const sigma = sigmas[k] ?? 0;
    const sigmaNext = sigmas[k + 1] ?? 0;
    sigmaBatch.fill(sigma);
    const v = await gen.velocity(x, sigmaBatch, tokens, n);
    const inWindow = window !== null && k >= window.start && k < window.start + window.size;
    const coeff = inWindow ? sdeCoefficients(sigma, sigmaNext, noiseLevel, sigmaMax) : null;
    for (let i = 0; i < n; i++) {
      const xi = x.subarray(i * D, (i + 1) * D);
      const vBase = v.subarray(i * D, (i + 1) * D);
      const offset = opts.velocityOffset?.(i, sigma, k, xi, vBase) ?? null;
      let vi: Float32Array = vBase;
      if (offset !== null) {
        vi = new Float32Array(D);
        for (let j = 0; j < D; j++) vi[j] = (vBase[j] ?? 0) + (offset[j] ?? 0);
      }
      if (coeff === null) {
        const dt = sigmaNext - sigma;
        for (let j = 0; j < D; j++) xi[j] = (xi[j] ?? 0) + (vi[j] ?? 0) * dt;
        continue;
      }
      const before = Float32Array.from(xi);
      const mean = sdeMean(before, vi, coeff);
      for (let j = 0; j < D; j++) xi[j] = (mean[j] ?? 0) + coeff.tau * opts.rng.normal();
      const xNext = Float32Array.from(xi);
      transitions[i]?.push({
        step: k,
        sigma,
        sigmaNext,
        x: before,
        xNext,
        v: Float32Array.from(vBase),
        ...(offset !== null ? { offset: Float32Array.from(offset) } : {}),
        logProb: gaussianLogProbMean(xNext, mean, coeff.tau),
      });
    }
  }
  return { images: prompts.map((_, i) => x.slice(i * D, (i + 1) * D)), transitions, sigmas };
}

/** CHW float in [-1, 1] → HWC uint8 RGB (clamped, rounded), as a PNG would store it. */
export function toRgb(chw: Float32Array, size: number): RgbImage {
  const plane = size * size;
  const data = Buffer.alloc(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const v = Math.round((((chw[c * plane + i] ?? 0) + 1) / 2) * 255);
      data[i * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { data, width: size, height: size };
}
