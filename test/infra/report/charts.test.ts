import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import {
  PALETTE,
  barChartPng,
  barChartSpec,
  chartSvg,
  lineChartPng,
  lineChartSpec,
  paletteHex,
} from '../../../infra/report/charts';

const bars = {
  groups: ['animals', 'people', 'plants'],
  series: [
    { name: 'cnn-semantic', values: [30.5, null, 29.1], ci: [[13.5, 49.5], null, [10.9, 47.6]] as const },
    { name: 'residual-heldout', values: [10.5, 9.6, 17.4] },
  ],
  yMax: 100,
  yTicks: [0, 25, 50, 75, 100],
  refLine: 50,
  title: 'Detector-Scoring per category',
  yTitle: 'mean P(real) × 100',
};

describe('charts (vega-lite → SVG → resvg)', () => {
  it('renders bars with their labels, title and whiskers; null values are left out', async () => {
    const spec = barChartSpec(bars);
    const layers = spec.layer as Array<{ data: { values: unknown[] } }>;
    assert.equal(layers[0]?.data.values.length, 5, 'six cells minus one null');
    assert.equal(layers[1]?.data.values.length, 2, 'two whiskers');
    const svg = await chartSvg(spec);
    for (const text of ['Detector-Scoring per category', 'animals', 'people', 'plants', 'cnn-semantic', 'residual-heldout'])
      assert.ok(svg.includes(text), text);
    assert.ok(svg.toLowerCase().includes(PALETTE[0]!.toLowerCase()), 'series colours come from the palette');
  });

  it('renders a line chart of score per step', async () => {
    const svg = await chartSvg(
      lineChartSpec({
        series: [
          {
            name: 'spectral',
            points: [
              [10, 55],
              [20, 56],
              [30, Number.NaN],
            ],
          },
        ],
        yMax: 100,
        xTitle: 'checkpoint step',
      }),
    );
    assert.ok(svg.includes('checkpoint step'));
    assert.ok(svg.includes('spectral'));
  });

  it('encodes deterministic PNGs that sharp reads back', async () => {
    const a = await barChartPng(bars);
    const b = await barChartPng(bars);
    assert.deepEqual(a, b);
    const meta = await sharp(a).metadata();
    assert.equal(meta.format, 'png');
    assert.ok((meta.width ?? 0) >= 560 && (meta.height ?? 0) >= 260);
    const line = await lineChartPng({ series: [{ name: 's', points: [[1, 2]] }], yMax: 10 });
    assert.equal((await sharp(line).metadata()).format, 'png');
  });

  it('rejects an empty y range and wraps the palette', async () => {
    await assert.rejects(barChartPng({ ...bars, yMin: 100, yMax: 100 }), /expected yMin < yMax/);
    assert.equal(paletteHex(PALETTE.length), paletteHex(0));
  });
});
