import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { Canvas, PALETTE, barChartPng, formatTick, lineChartPng, paletteHex, renderBarChart, renderLineChart, textWidth } from '../../../core/report/charts';

function px(img: { data: Buffer; width: number }, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return [img.data[i] ?? -1, img.data[i + 1] ?? -1, img.data[i + 2] ?? -1];
}

function count(img: { data: Buffer }, c: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < img.data.length; i += 3) if (img.data[i] === c[0] && img.data[i + 1] === c[1] && img.data[i + 2] === c[2]) n++;
  return n;
}

describe('charts', () => {
  it('draws bars whose heights follow the values, in palette colours', () => {
    const img = renderBarChart({ groups: ['a', 'b'], series: [{ name: 's', values: [25, 100] }], yMax: 100, width: 200, height: 120 });
    assert.equal(img.data.length, 200 * 120 * 3);
    const blue = PALETTE[0] as readonly number[];
    const bluePixels = count(img, blue);
    assert.ok(bluePixels > 0);
    // Group 2 (value 100) is four times as tall as group 1 (value 25): compare column heights through each bar.
    const columnHeight = (x: number) => Array.from({ length: img.height }, (_, y) => px(img, x, y)).filter((c) => c.every((v, i) => v === blue[i])).length;
    const plotW = 200 - 12 - 48;
    const h1 = columnHeight(Math.round(48 + plotW * 0.25));
    const h2 = columnHeight(Math.round(48 + plotW * 0.75));
    assert.ok(h1 > 0 && Math.abs(h2 / h1 - 4) < 0.3, `${h1} vs ${h2}`);
  });

  it('leaves a gap for null values and draws CI whiskers', () => {
    const withNull = renderBarChart({ groups: ['a'], series: [{ name: 's', values: [null] }], yMax: 1, width: 100, height: 80 });
    assert.equal(count(withNull, PALETTE[0] as readonly number[]), 0);
    const ci = renderBarChart({ groups: ['a'], series: [{ name: 's', values: [0.5], ci: [[0.4, 0.6]] }], yMax: 1, width: 100, height: 80 });
    const plain = renderBarChart({ groups: ['a'], series: [{ name: 's', values: [0.5] }], yMax: 1, width: 100, height: 80 });
    assert.notDeepEqual(ci.data, plain.data);
  });

  it('draws lines between points and handles a single point', () => {
    const img = renderLineChart({ series: [{ name: 's', points: [[10, 20], [20, 80]] }], yMax: 100, width: 200, height: 120 });
    assert.ok(count(img, PALETTE[0] as readonly number[]) > 20);
    const one = renderLineChart({ series: [{ name: 's', points: [[5, 50]] }], yMax: 100, width: 200, height: 120 });
    assert.ok(count(one, PALETTE[0] as readonly number[]) > 0);
    const empty = renderLineChart({ series: [], yMax: 1 });
    assert.equal(empty.width, 640);
  });

  it('encodes deterministic PNGs that sharp reads back at the requested size', async () => {
    const spec = { groups: ['x', 'y', 'z'], series: [{ name: 'a', values: [10, 50, 90] }, { name: 'b', values: [30, null, 70] }], yMax: 100, refLine: 50 };
    const a = await barChartPng(spec);
    const b = await barChartPng(spec);
    assert.ok(a.equals(b));
    const meta = await sharp(a).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 640);
    assert.equal(meta.height, 320);
    const line = await lineChartPng({ series: [{ name: 's', points: [[0, 1], [1, 2]] }], yMax: 3, width: 300, height: 150 });
    assert.equal((await sharp(line).metadata()).width, 300);
  });

  it('rejects empty ranges and has a small digit font', () => {
    assert.throws(() => renderBarChart({ groups: [], series: [], yMin: 1, yMax: 1 }), /empty/);
    assert.throws(() => new Canvas(0, 1), RangeError);
    assert.equal(textWidth('100'), 18);
    assert.equal(textWidth('abc'), 0, 'letters have no glyphs');
    assert.equal(formatTick(0.25), '0.25');
    assert.equal(formatTick(1 / 3), '0.33');
    assert.equal(paletteHex(0), '#0072b2');
    const cv = new Canvas(20, 10);
    cv.text(0, 0, '8', [0, 0, 0]);
    assert.equal(count(cv.toImage(), [0, 0, 0]), 17, 'the 5×7 glyph of 8 has 17 lit pixels');
  });
});
