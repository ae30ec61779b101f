/**
 * Zod pieces of an ONNX model's image preprocessing, shared by the detector manifest and the alignment manifest:
 * the resize chain and the pixel normalisation (scale, then per-channel mean and std).
 */
import { z } from 'zod';

/** [height, width] in pixels. */
export const PixelSizeSchema = z.tuple([z.number().int().positive(), z.number().int().positive()]);
const triple = z.tuple([z.number(), z.number(), z.number()]);

/** Resize chain applied in order (infra/image/decode.ts `resizeRgb`); the last step produces the model's input size. */
export const ResizeChainSchema = z
  .array(
    z.strictObject({
      size: PixelSizeSchema,
      mode: z.enum(['squash', 'cover']),
      kernel: z.enum(['nearest', 'linear', 'cubic', 'lanczos3']).optional(),
    }),
  )
  .min(1);

/** Normalisation: value × scale, then (value − mean) / std per channel. */
export const NormalisationShape = {
  /** Multiplier from 0–255 to the model's range before mean/std. @default 1/255 */
  scale: z
    .number()
    .positive()
    .default(1 / 255),
  mean: triple,
  std: triple.refine((s) => s.every((v) => v > 0), { error: 'expected positive std values' }),
};
