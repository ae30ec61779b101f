/**
 * A small contact sheet of generated images next to the real photos they compete with: one row per pair,
 * generated left, real right, every cell resized to a square (cover crop). Pure: bytes in, PNG bytes out.
 */
import sharp from 'sharp';

export interface GridPair {
  generated: Buffer;
  real: Buffer;
}

export interface ImageGridOptions {
  /** Cell edge in pixels. @default 128 */
  cell?: number;
  /** Gap between cells in pixels. @default 4 */
  gap?: number;
}

async function cellPng(bytes: Buffer, cell: number): Promise<Buffer> {
  try {
    return await sharp(bytes).removeAlpha().resize(cell, cell, { fit: 'cover', kernel: 'nearest' }).png().toBuffer();
  } catch {
    // An unreadable image becomes a mid-grey cell rather than failing the whole report.
    return await sharp({ create: { width: cell, height: cell, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .png()
      .toBuffer();
  }
}

/** Renders pairs as a (pairs × 2) grid PNG on a white background; an empty list gives a 1-cell blank image. */
export async function renderImageGrid(pairs: readonly GridPair[], options: ImageGridOptions = {}): Promise<Buffer> {
  const cell = options.cell ?? 128;
  const gap = options.gap ?? 4;
  if (!Number.isInteger(cell) || cell < 1 || !Number.isInteger(gap) || gap < 0)
    throw new RangeError(`image grid: cell ${cell}, gap ${gap}`);
  const rows = Math.max(1, pairs.length);
  const width = 2 * cell + 3 * gap;
  const height = rows * cell + (rows + 1) * gap;
  const composites: sharp.OverlayOptions[] = [];
  for (const [r, pair] of pairs.entries()) {
    const top = gap + r * (cell + gap);
    composites.push({ input: await cellPng(pair.generated, cell), left: gap, top });
    composites.push({ input: await cellPng(pair.real, cell), left: 2 * gap + cell, top });
  }
  return await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(composites)
    .png({ compressionLevel: 9, adaptiveFiltering: false })
    .toBuffer();
}
