/**
 * PNG charts without a browser: a vega-lite spec (domain/report/chart-specs.ts) is compiled to vega, rendered to SVG
 * headlessly (renderer "none") and rasterised by resvg with the system fonts. Pure apart from font loading: the same
 * spec gives the same bytes.
 */
import { Resvg } from '@resvg/resvg-js';
import { barChartSpec, lineChartSpec, type BarChartSpec, type LineChartSpec, type VlSpec } from '../../domain/report/chart-specs';

export {
  PALETTE,
  paletteHex,
  barChartSpec,
  lineChartSpec,
  type BarChartSpec,
  type LineChartSpec,
  type VlSpec,
} from '../../domain/report/chart-specs';

/** Renders a vega-lite spec to SVG text without a browser. */
export async function chartSvg(spec: VlSpec): Promise<string> {
  // vega and vega-lite ship as ES modules with top-level await, so they are loaded with import().
  const [vl, vega] = await Promise.all([import('vega-lite'), import('vega')]);
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG to PNG with the system fonts. */
export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } })
    .render()
    .asPng();
}

/** A grouped bar chart as PNG bytes. */
export async function barChartPng(spec: BarChartSpec): Promise<Buffer> {
  return svgToPng(await chartSvg(barChartSpec(spec)));
}

/** A line chart as PNG bytes. */
export async function lineChartPng(spec: LineChartSpec): Promise<Buffer> {
  return svgToPng(await chartSvg(lineChartSpec(spec)));
}
