/**
 * PNG charts without a browser: bars and lines drawn into an RGB buffer, encoded by sharp. Pure (no I/O): the
 * same spec gives the same bytes.
 *
 * Text is limited to a 5×7 bitmap font of digits and a few signs (tick values, group numbers); names and legends go
 * in the surrounding Markdown/HTML, which lists series colours ({@link PALETTE}) and group order.
 */
import sharp from 'sharp';
import type { RgbImage } from '../image/decode';

export type Rgb = readonly [number, number, number];

/** Series colours, in order (colour-blind-friendly Okabe–Ito). */
export const PALETTE: readonly Rgb[] = [
  [0, 114, 178],
  [230, 159, 0],
  [0, 158, 115],
  [204, 121, 167],
  [86, 180, 233],
  [213, 94, 0],
  [240, 228, 66],
  [0, 0, 0],
];

/** `#rrggbb` of palette entry i (wraps). */
export function paletteHex(i: number): string {
  const c = PALETTE[i % PALETTE.length] ?? [0, 0, 0];
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

const WHITE: Rgb = [255, 255, 255];
const AXIS: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];
const REF: Rgb = [200, 0, 0];

// 5×7 glyphs, one string of 5 bits per row, top to bottom.
const GLYPHS: Record<string, readonly string[]> = {
  '0': ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  '1': ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  '2': ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  '3': ['11110', '00001', '00001', '01110', '00001', '00001', '11110'],
  '4': ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  '5': ['11111', '10000', '11110', '00001', '00001', '10001', '01110'],
  '6': ['00110', '01000', '10000', '11110', '10001', '10001', '01110'],
  '7': ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  '8': ['01110', '10001', '10001', '01110', '10001', '10001', '01110'],
  '9': ['01110', '10001', '10001', '01111', '00001', '00010', '01100'],
  '.': ['00000', '00000', '00000', '00000', '00000', '01100', '01100'],
  '-': ['00000', '00000', '00000', '11111', '00000', '00000', '00000'],
  '%': ['11001', '11010', '00010', '00100', '01000', '01011', '10011'],
  ' ': ['00000', '00000', '00000', '00000', '00000', '00000', '00000'],
};

/** An RGB drawing surface with clipping. */
export class Canvas {
  readonly data: Buffer;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = WHITE,
  ) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new RangeError(`canvas size ${width}×${height}`);
    this.data = Buffer.alloc(width * height * 3);
    for (let i = 0; i < width * height; i++) this.data.set(background, i * 3);
  }

  pixel(x: number, y: number, c: Rgb): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    this.data.set(c, (yi * this.width + xi) * 3);
  }

  /** Fills [x0, x1) × [y0, y1) (any corner order). */
  rect(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    const [xa, xb] = [Math.round(Math.min(x0, x1)), Math.round(Math.max(x0, x1))];
    const [ya, yb] = [Math.round(Math.min(y0, y1)), Math.round(Math.max(y0, y1))];
    for (let y = Math.max(0, ya); y < Math.min(this.height, yb); y++) {
      for (let x = Math.max(0, xa); x < Math.min(this.width, xb); x++) this.data.set(c, (y * this.width + x) * 3);
    }
  }

  /** A line `thickness` pixels wide. */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const r = (thickness - 1) / 2;
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      if (thickness <= 1) this.pixel(x, y, c);
      else this.rect(x - r, y - r, x + r + 1, y + r + 1, c);
    }
  }

  /** Text in the bitmap font at integer `scale`; characters without a glyph are skipped. Returns the width drawn. */
  text(x: number, y: number, s: string, c: Rgb, scale = 1): number {
    let cx = x;
    for (const ch of s) {
      const g = GLYPHS[ch];
      if (g === undefined) continue;
      g.forEach((row, gy) => {
        for (let gx = 0; gx < 5; gx++) if (row[gx] === '1') this.rect(cx + gx * scale, y + gy * scale, cx + (gx + 1) * scale, y + (gy + 1) * scale, c);
      });
      cx += 6 * scale;
    }
    return cx - x;
  }

  toImage(): RgbImage {
    return { data: this.data, width: this.width, height: this.height };
  }
}

/** Width in pixels of `s` in the bitmap font. */
export function textWidth(s: string, scale = 1): number {
  return [...s].filter((ch) => GLYPHS[ch] !== undefined).length * 6 * scale;
}

/** Formats a tick value compactly (integers plain, otherwise up to 2 decimals). */
export function formatTick(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return String(Math.round(v * 100) / 100);
}

interface Frame {
  left: number;
  top: number;
  right: number;
  bottom: number;
  yMin: number;
  yMax: number;
}

function yPixel(f: Frame, v: number): number {
  const t = (v - f.yMin) / (f.yMax - f.yMin || 1);
  return f.bottom - Math.max(0, Math.min(1, t)) * (f.bottom - f.top);
}

function drawAxes(cv: Canvas, f: Frame, ticks: readonly number[], refLine: number | undefined): void {
  for (const t of ticks) {
    const y = yPixel(f, t);
    cv.line(f.left, y, f.right, y, GRID);
    const label = formatTick(t);
    cv.text(f.left - 6 - textWidth(label), Math.round(y) - 3, label, AXIS);
  }
  if (refLine !== undefined && refLine >= f.yMin && refLine <= f.yMax) {
    const y = yPixel(f, refLine);
    for (let x = f.left; x < f.right; x += 6) cv.line(x, y, Math.min(x + 3, f.right), y, REF);
  }
  cv.line(f.left, f.top, f.left, f.bottom, AXIS, 2);
  cv.line(f.left, f.bottom, f.right, f.bottom, AXIS, 2);
}

function defaultTicks(yMin: number, yMax: number): number[] {
  return [0, 0.25, 0.5, 0.75, 1].map((t) => yMin + t * (yMax - yMin));
}

function checkRange(yMin: number, yMax: number): void {
  if (!(Number.isFinite(yMin) && Number.isFinite(yMax) && yMax > yMin)) throw new RangeError(`chart y range [${yMin}, ${yMax}] is empty or not finite`);
}

/** A grouped bar chart: one group per category, one bar per series, optional interval whiskers. */
export interface BarChartSpec {
  /** Group labels (drawn as 1-based numbers under the groups; list the names next to the chart). */
  groups: readonly string[];
  series: ReadonlyArray<{ name: string; values: ReadonlyArray<number | null>; ci?: ReadonlyArray<readonly [number, number] | null> }>;
  /** @default 0 */
  yMin?: number;
  yMax: number;
  yTicks?: readonly number[];
  /** A dashed red reference line (e.g. 50 = indistinguishable from real). */
  refLine?: number;
  /** @default 640 */
  width?: number;
  /** @default 320 */
  height?: number;
}

/** Draws a grouped bar chart into RGB pixels. Null values leave a gap. */
export function renderBarChart(spec: BarChartSpec): RgbImage {
  const yMin = spec.yMin ?? 0;
  checkRange(yMin, spec.yMax);
  const cv = new Canvas(spec.width ?? 640, spec.height ?? 320);
  const f: Frame = { left: 48, top: 12, right: cv.width - 12, bottom: cv.height - 24, yMin, yMax: spec.yMax };
  drawAxes(cv, f, spec.yTicks ?? defaultTicks(yMin, spec.yMax), spec.refLine);
  const nGroups = Math.max(1, spec.groups.length);
  const groupW = (f.right - f.left) / nGroups;
  const nSeries = Math.max(1, spec.series.length);
  const barW = Math.max(1, (groupW * 0.8) / nSeries);
  spec.groups.forEach((_, g) => {
    const gx = f.left + g * groupW + groupW * 0.1;
    spec.series.forEach((s, si) => {
      const v = s.values[g];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const color = PALETTE[si % PALETTE.length] ?? AXIS;
      const x0 = gx + si * barW;
      cv.rect(x0 + 1, yPixel(f, v), x0 + barW - 1, f.bottom, color);
      const ci = s.ci?.[g];
      if (ci) {
        const xm = x0 + barW / 2;
        const [ylo, yhi] = [yPixel(f, ci[0]), yPixel(f, ci[1])];
        cv.line(xm, ylo, xm, yhi, AXIS);
        cv.line(xm - 3, ylo, xm + 3, ylo, AXIS);
        cv.line(xm - 3, yhi, xm + 3, yhi, AXIS);
      }
    });
    const label = String(g + 1);
    cv.text(f.left + g * groupW + groupW / 2 - textWidth(label) / 2, f.bottom + 8, label, AXIS);
  });
  return cv.toImage();
}

/** A line chart of y against x (e.g. score against checkpoint step), one polyline with markers per series. */
export interface LineChartSpec {
  series: ReadonlyArray<{ name: string; points: ReadonlyArray<readonly [number, number]> }>;
  /** @default 0 */
  yMin?: number;
  yMax: number;
  yTicks?: readonly number[];
  refLine?: number;
  /** @default 640 */
  width?: number;
  /** @default 320 */
  height?: number;
}

/** Draws a line chart into RGB pixels; the x range covers every point (min and max x are labelled). */
export function renderLineChart(spec: LineChartSpec): RgbImage {
  const yMin = spec.yMin ?? 0;
  checkRange(yMin, spec.yMax);
  const cv = new Canvas(spec.width ?? 640, spec.height ?? 320);
  const f: Frame = { left: 48, top: 12, right: cv.width - 16, bottom: cv.height - 24, yMin, yMax: spec.yMax };
  drawAxes(cv, f, spec.yTicks ?? defaultTicks(yMin, spec.yMax), spec.refLine);
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0])).filter(Number.isFinite);
  if (xs.length === 0) return cv.toImage();
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (xMax === xMin) {
    xMin -= 1;
    xMax += 1;
  }
  const xPixel = (x: number): number => f.left + 8 + ((x - xMin) / (xMax - xMin)) * (f.right - f.left - 16);
  for (const x of [xMin, xMax]) {
    if (!xs.includes(x)) continue;
    const label = formatTick(x);
    cv.text(xPixel(x) - textWidth(label) / 2, f.bottom + 8, label, AXIS);
  }
  spec.series.forEach((s, si) => {
    const color = PALETTE[si % PALETTE.length] ?? AXIS;
    const pts = [...s.points].filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])).sort((a, b) => a[0] - b[0]);
    pts.forEach((p, i) => {
      const [x, y] = [xPixel(p[0]), yPixel(f, p[1])];
      const prev = pts[i - 1];
      if (prev !== undefined) cv.line(xPixel(prev[0]), yPixel(f, prev[1]), x, y, color, 2);
      cv.rect(x - 3, y - 3, x + 4, y + 4, color);
    });
  });
  return cv.toImage();
}

/** Encodes RGB pixels as PNG. */
export async function encodeChartPng(image: RgbImage): Promise<Buffer> {
  return await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png({ compressionLevel: 9, adaptiveFiltering: false })
    .toBuffer();
}

/** A grouped bar chart as PNG bytes. */
export async function barChartPng(spec: BarChartSpec): Promise<Buffer> {
  return await encodeChartPng(renderBarChart(spec));
}

/** A line chart as PNG bytes. */
export async function lineChartPng(spec: LineChartSpec): Promise<Buffer> {
  return await encodeChartPng(renderLineChart(spec));
}
