/**
 * Small, fixed image edits for the reward-signal probe (issue 15): each one is a direction a detector should have an
 * opinion about (detail up, detail down, contrast, sensor-like noise). A reward detector that agrees with realism
 * moves the same way as the held-out detector under them. Pure functions of 8-bit RGB; noise draws from the caller's Rng.
 */
import type { Rng } from '../../lib/random';
import type { RgbImage } from './rgb-image';

/** The probe's edits, by name. */
export type ImageEdit = 'sharpen' | 'blur' | 'contrast' | 'noise';
export const IMAGE_EDITS: readonly ImageEdit[] = ['sharpen', 'blur', 'contrast', 'noise'];

const clamp8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** 3×3 binomial blur ([1 2 1]/4 ⊗ [1 2 1]/4), edges clamped. */
export function blur3(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = Buffer.alloc(data.length);
  const k = [1, 2, 1];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = Math.min(h - 1, Math.max(0, y + dy));
          for (let dx = -1; dx <= 1; dx++) {
            const xx = Math.min(w - 1, Math.max(0, x + dx));
            s += (k[dy + 1] as number) * (k[dx + 1] as number) * (data[(yy * w + xx) * 3 + c] as number);
          }
        }
        out[(y * w + x) * 3 + c] = clamp8(s / 16);
      }
    }
  }
  return { data: out, width: w, height: h };
}

/** Unsharp mask: x + amount·(x − blur3(x)). */
export function sharpen(img: RgbImage, amount = 1): RgbImage {
  const b = blur3(img).data;
  const out = Buffer.alloc(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = clamp8((img.data[i] as number) * (1 + amount) - amount * (b[i] as number));
  return { data: out, width: img.width, height: img.height };
}

/** Contrast about the image's mean grey: mean + factor·(x − mean). */
export function contrast(img: RgbImage, factor = 1.15): RgbImage {
  let m = 0;
  for (const v of img.data) m += v;
  m /= img.data.length;
  const out = Buffer.alloc(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = clamp8(m + factor * ((img.data[i] as number) - m));
  return { data: out, width: img.width, height: img.height };
}

/** Adds i.i.d. Gaussian noise of `sd` grey levels to every channel value. */
export function addNoise(img: RgbImage, rng: Rng, sd = 3): RgbImage {
  const out = Buffer.alloc(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = clamp8((img.data[i] as number) + sd * rng.normal());
  return { data: out, width: img.width, height: img.height };
}

/** Applies one named edit (the probe's settings: unsharp amount 1, 3×3 blur, contrast ×1.15, noise sd 3). */
export function applyEdit(img: RgbImage, edit: ImageEdit, rng: Rng): RgbImage {
  switch (edit) {
    case 'sharpen':
      return sharpen(img);
    case 'blur':
      return blur3(img);
    case 'contrast':
      return contrast(img);
    case 'noise':
      return addNoise(img, rng);
  }
}
