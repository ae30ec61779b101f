/**
 * Image decoding for detectors: content sniffing (never trust the file name: the benchmark had PNG and WebP behind
 * `.jpg` names), size limits checked from the header before any pixel is decoded, EXIF orientation applied,
 * then a resize chain into an RGB uint8 buffer.
 */
import sharp from 'sharp';
import type { RgbImage } from '../../domain/image/rgb-image';

/** An image the caller can not score, with the reason in plain words. */
export class ImageInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageInputError';
  }
}

export type SniffedFormat = 'jpeg' | 'png' | 'webp';

/** Detects JPEG, PNG or WebP from magic bytes; null for anything else. */
export function sniffFormat(buf: Buffer): SniffedFormat | null {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 8 && buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (buf.length >= 12 && buf.toString('latin1', 0, 4) === 'RIFF' && buf.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return null;
}

/**
 * Width and height read from the container header alone (no decoder involved), so oversized images are refused
 * before a single pixel is allocated. Null when the header is malformed.
 */
export function headerSize(buf: Buffer, format: SniffedFormat): { width: number; height: number } | null {
  if (format === 'png') {
    if (buf.length < 24 || buf.toString('latin1', 12, 16) !== 'IHDR') return null;
    return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  }
  if (format === 'webp') {
    if (buf.length < 30) return null;
    const chunk = buf.toString('latin1', 12, 16);
    if (chunk === 'VP8X') return { width: 1 + buf.readUIntLE(24, 3), height: 1 + buf.readUIntLE(27, 3) };
    if (chunk === 'VP8 ') return { width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff };
    if (chunk === 'VP8L') {
      const bits = buf.readUInt32LE(21);
      return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff) };
    }
    return null;
  }
  // JPEG: walk the marker segments up to the first start-of-frame.
  let off = 2;
  while (off + 9 < buf.length) {
    if (buf[off] !== 0xff) return null;
    const marker = buf[off + 1] ?? 0;
    if (marker === 0xff) {
      off += 1;
      continue;
    }
    const len = buf.readUInt16BE(off + 2);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) return { width: buf.readUInt16BE(off + 7), height: buf.readUInt16BE(off + 5) };
    off += 2 + len;
  }
  return null;
}

/** MIME type of a sniffed format. */
export function mimeOf(format: SniffedFormat): string {
  return `image/${format}`;
}

/** One resize of the chain: `squash` stretches to the size (OmniAID's 512→336), `cover` centre-crops to its aspect. */
export interface ResizeStep {
  size: [number, number];
  mode: 'squash' | 'cover';
  kernel?: 'nearest' | 'linear' | 'cubic' | 'lanczos3';
}

export interface DecodeLimits {
  /** Largest accepted width × height, checked from the header. @default 50_000_000 */
  maxPixels?: number;
  /** Largest accepted encoded size in bytes. @default 64 MiB */
  maxBytes?: number;
}

export const DEFAULT_LIMITS: Required<DecodeLimits> = { maxPixels: 50_000_000, maxBytes: 64 * 1024 * 1024 };

export type { RgbImage };

function kernelOf(step: ResizeStep): keyof sharp.KernelEnum {
  return step.kernel ?? 'lanczos3';
}

/** Applies a resize chain to an RGB image already in memory. */
export async function resizeRgb(image: RgbImage, chain: ResizeStep[]): Promise<RgbImage> {
  let current = image;
  for (const step of chain) {
    const [h, w] = step.size;
    if (current.width === w && current.height === h) continue;
    const { data, info } = await sharp(current.data, { raw: { width: current.width, height: current.height, channels: 3 } })
      .resize(w, h, { fit: step.mode === 'squash' ? 'fill' : 'cover', position: 'centre', kernel: kernelOf(step) })
      .raw()
      .toBuffer({ resolveWithObject: true });
    current = { data, width: info.width, height: info.height };
  }
  return current;
}

/**
 * Decodes encoded bytes to RGB and applies the resize chain. Throws `ImageInputError` for anything that is not a
 * readable JPEG, PNG or WebP within the limits (zero bytes, text, truncated files, oversized headers).
 */
export async function decodeToRgb(buf: Buffer, chain: ResizeStep[], limits: DecodeLimits = {}): Promise<RgbImage> {
  const { maxPixels, maxBytes } = { ...DEFAULT_LIMITS, ...limits };
  if (buf.length === 0) throw new ImageInputError('empty file (0 bytes)');
  if (buf.length > maxBytes) throw new ImageInputError(`file is ${buf.length} bytes; the limit is ${maxBytes}`);
  const format = sniffFormat(buf);
  if (format === null) throw new ImageInputError('not a JPEG, PNG or WebP image (checked by content)');
  const header = headerSize(buf, format);
  if (header === null) throw new ImageInputError(`unreadable ${format} header`);
  const { width, height } = header;
  if (width <= 0 || height <= 0) throw new ImageInputError(`${format} header has no size`);
  if (width * height > maxPixels) {
    throw new ImageInputError(
      `image is ${width}×${height} = ${width * height} pixels; the limit is ${maxPixels} (refused before decoding)`,
    );
  }
  const [first, ...rest] = chain;
  let decoded: RgbImage;
  try {
    let pipeline = sharp(buf, { limitInputPixels: maxPixels, failOn: 'warning' })
      .autoOrient()
      .removeAlpha()
      .toColourspace('srgb');
    // The first resize runs inside the decode (libvips can shrink JPEGs while decoding); the rest on raw pixels.
    if (first !== undefined) {
      pipeline = pipeline.resize(first.size[1], first.size[0], {
        fit: first.mode === 'squash' ? 'fill' : 'cover',
        position: 'centre',
        kernel: kernelOf(first),
      });
    }
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    decoded = { data, width: info.width, height: info.height };
  } catch (err) {
    throw new ImageInputError(`cannot decode ${format}: ${(err as Error).message}`);
  }
  return rest.length === 0 ? decoded : await resizeRgb(decoded, rest);
}

/** Encodes an RGB uint8 image as PNG (deterministic bytes for the same pixels). */
export async function encodePng(image: RgbImage): Promise<Buffer> {
  return await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png({ compressionLevel: 9, adaptiveFiltering: false })
    .toBuffer();
}
