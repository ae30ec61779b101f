/** RGB uint8 (HWC) → normalised float CHW tensor, the input layout of every image model here. */
import type { RgbImage } from './decode';

export interface Normalisation {
  /** [height, width] the model takes. */
  size: readonly [number, number];
  colorOrder: 'RGB' | 'BGR';
  /** Multiplier from 0–255 before mean/std. */
  scale: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** One image already at `size`, as ((pixel·scale − mean) / std) per channel, in the model's colour order. */
export function rgbToChw(image: RgbImage, n: Normalisation): Float32Array {
  const [h, w] = n.size;
  if (image.width !== w || image.height !== h) throw new Error(`expected a ${w}×${h} image, got ${image.width}×${image.height}`);
  const plane = h * w;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const src = n.colorOrder === 'RGB' ? c : 2 - c;
    const m = n.mean[c] ?? 0;
    const s = n.std[c] ?? 1;
    for (let i = 0; i < plane; i++) out[c * plane + i] = ((image.data[i * 3 + src] ?? 0) * n.scale - m) / s;
  }
  return out;
}
