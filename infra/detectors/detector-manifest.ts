/**
 * The detector manifest: everything needed to feed an ONNX detector correctly — input size, resize chain,
 * normalisation, colour order, and which output means "real". Checked against the graph when the detector loads.
 */
import { readJsonFile, resolveBeside } from '../json-file';
import { z } from 'zod';
import { NormalisationShape, PixelSizeSchema, ResizeChainSchema } from '../image/preprocess-schema';

export const DetectorManifestSchema = z.strictObject({
  /** Detector name (reward key, Detector-Scoring column). */
  name: z.string().min(1),
  /** `reward` detectors may drive training; `heldout` ones are for evaluation only. */
  role: z.enum(['reward', 'heldout']),
  /** ONNX file, relative to the manifest. */
  onnx: z.string().min(1),
  input: z.strictObject({
    name: z.string().min(1),
    /** [height, width] the graph takes. */
    size: PixelSizeSchema,
    layout: z.literal('NCHW'),
    colorOrder: z.enum(['RGB', 'BGR']),
    /** Resize chain applied in order; the last step must produce `size`. */
    resize: ResizeChainSchema,
    ...NormalisationShape,
  }),
  output: z.strictObject({
    name: z.string().min(1),
    /** `logits`: softmax over the last axis; `probabilities`: already normalised; `sigmoid`: one logit of P(real). */
    kind: z.enum(['logits', 'probabilities', 'sigmoid']),
    /** Index of the "real" class along the last axis (0 for `sigmoid`). */
    realIndex: z.number().int().nonnegative(),
  }),
  description: z.string().optional(),
  license: z.string().optional(),
  /** Provenance and metrics, free-form. */
  info: z.record(z.string(), z.unknown()).optional(),
});
export type DetectorManifest = z.output<typeof DetectorManifestSchema>;

/** Reads and validates a manifest; errors name the file and each problem's path. */
export function readDetectorManifest(file: string): { manifest: DetectorManifest; onnxPath: string } {
  const data = readJsonFile(file, DetectorManifestSchema, 'detector manifest');
  const last = data.input.resize[data.input.resize.length - 1];
  if (last && (last.size[0] !== data.input.size[0] || last.size[1] !== data.input.size[1])) {
    throw new Error(`${file}: input.resize ends at ${last.size.join('×')} but input.size is ${data.input.size.join('×')}`);
  }
  return { manifest: data, onnxPath: resolveBeside(file, data.onnx, 'onnx') };
}
