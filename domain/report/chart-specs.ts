/**
 * Chart specifications for reports: vega-lite specs of grouped bar and line charts, and the series palette the HTML
 * legends share. Pure data; infra/report/charts.ts renders them to PNG.
 */

/** Series colours, in order (colour-blind-friendly Okabe–Ito); the HTML legends use the same ones. */
export const PALETTE: readonly string[] = [
  '#0072b2',
  '#e69f00',
  '#009e73',
  '#cc79a7',
  '#56b4e9',
  '#d55e00',
  '#f0e442',
  '#000000',
];

/** `#rrggbb` of palette entry i (wraps). */
export function paletteHex(i: number): string {
  return PALETTE[i % PALETTE.length] ?? '#000000';
}

interface Axes {
  /** @default 0 */
  yMin?: number;
  yMax: number;
  yTicks?: readonly number[];
  /** A dashed red reference line (e.g. 50 = indistinguishable from real). */
  refLine?: number;
  /** Plot width in pixels (axes, titles and legend come on top). @default 560 */
  width?: number;
  /** Plot height in pixels. @default 260 */
  height?: number;
  title?: string;
  xTitle?: string;
  yTitle?: string;
}

/** A grouped bar chart: one bar per series in every group, optional confidence intervals as whiskers. */
export interface BarChartSpec extends Axes {
  groups: readonly string[];
  series: ReadonlyArray<{
    name: string;
    values: ReadonlyArray<number | null>;
    ci?: ReadonlyArray<readonly [number, number] | null>;
  }>;
}

/** A line chart of y against x (e.g. score against checkpoint step), one polyline with markers per series. */
export interface LineChartSpec extends Axes {
  series: ReadonlyArray<{ name: string; points: ReadonlyArray<readonly [number, number]> }>;
}

export type VlSpec = Record<string, unknown>;

function checkRange(yMin: number, yMax: number): void {
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax) || !(yMax > yMin))
    throw new RangeError(`chart: expected yMin < yMax, got ${yMin} and ${yMax}`);
}

function yAxis(spec: Axes): Record<string, unknown> {
  const yMin = spec.yMin ?? 0;
  checkRange(yMin, spec.yMax);
  return {
    type: 'quantitative',
    title: spec.yTitle ?? null,
    scale: { domain: [yMin, spec.yMax], nice: false },
    ...(spec.yTicks ? { axis: { values: [...spec.yTicks] } } : {}),
  };
}

function refLayer(spec: Axes): VlSpec[] {
  return spec.refLine === undefined
    ? []
    : [
        {
          data: { values: [{ y: spec.refLine }] },
          mark: { type: 'rule', color: '#c80000', strokeDash: [4, 3] },
          encoding: { y: { field: 'y', type: 'quantitative' } },
        },
      ];
}

function frame(spec: Axes, layers: VlSpec[]): VlSpec {
  return {
    width: spec.width ?? 560,
    height: spec.height ?? 260,
    background: 'white',
    ...(spec.title ? { title: spec.title } : {}),
    config: { font: 'DejaVu Sans', range: { category: [...PALETTE] } },
    layer: [...layers, ...refLayer(spec)],
  };
}

/** The vega-lite spec of a grouped bar chart (null values are left out). */
export function barChartSpec(spec: BarChartSpec): VlSpec {
  const rows = spec.groups.flatMap((g, gi) =>
    spec.series.flatMap((s) => {
      const v = s.values[gi];
      if (v === null || v === undefined || !Number.isFinite(v)) return [];
      const ci = s.ci?.[gi] ?? null;
      return [{ group: g, order: gi, series: s.name, value: v, lo: ci?.[0] ?? null, hi: ci?.[1] ?? null }];
    }),
  );
  const x = { field: 'group', type: 'nominal', title: spec.xTitle ?? null, sort: [...spec.groups], axis: { labelAngle: -30 } };
  const color = { field: 'series', type: 'nominal', title: null, sort: spec.series.map((s) => s.name) };
  const y = yAxis(spec);
  return frame(spec, [
    {
      data: { values: rows },
      mark: 'bar',
      encoding: { x, xOffset: { field: 'series', sort: spec.series.map((s) => s.name) }, y: { field: 'value', ...y }, color },
    },
    {
      data: { values: rows.filter((r) => r.lo !== null) },
      mark: { type: 'rule', color: '#333333' },
      encoding: {
        x,
        xOffset: { field: 'series', sort: spec.series.map((s) => s.name) },
        y: { field: 'lo', ...y },
        y2: { field: 'hi' },
      },
    },
  ]);
}

/** The vega-lite spec of a line chart. */
export function lineChartSpec(spec: LineChartSpec): VlSpec {
  const rows = spec.series.flatMap((s) =>
    s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])).map((p) => ({ series: s.name, x: p[0], y: p[1] })),
  );
  return frame(spec, [
    {
      data: { values: rows },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: spec.xTitle ?? null, axis: { tickMinStep: 1 } },
        y: { field: 'y', ...yAxis(spec) },
        color: { field: 'series', type: 'nominal', title: null, sort: spec.series.map((s) => s.name) },
      },
    },
  ]);
}
