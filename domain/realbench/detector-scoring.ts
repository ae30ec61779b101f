/**
 * RealBench Detector-Scoring (spec §4.2): per detector, the mean P(real) × 100 and the share of images judged real
 * (P(real) > 0.5) × 100, overall and per category, each with a seeded percentile-bootstrap confidence interval over
 * images. The paper's 0–100 numbers are most likely the mean × 100; both are reported because the official scripts
 * print both and the paper could not be checked.
 */
import { Rng } from '../../lib/random';

/** One benchmark image's detector outputs. */
export interface DetectorScoreItem {
  /** Unique image id (e.g. `00042`). */
  id: string;
  /** RealBench category (people, animals, …). */
  category: string;
  /** P(real) in [0, 1] per detector name, or null when that detector failed on this image. */
  scores: Record<string, number | null>;
}

/** Bootstrap settings; all optional. */
export interface DetectorScoringOptions {
  /** Number of bootstrap resamples; integer ≥ 1. Default 1000. */
  bootstrap?: number;
  /** Base seed; each (detector, category) cell draws from its own stream of it. Default 0. */
  seed?: number;
  /** Two-sided confidence level of the intervals, in (0, 1). Default 0.95. */
  confidence?: number;
  /**
   * Categories to report even when no item has them (e.g. the seven RealBench categories), so a missing category
   * shows up as n = 0 instead of silently disappearing. Default: only the categories present.
   */
  categories?: readonly string[];
}

/** Statistics of one detector over one set of images. Scores and intervals are on the 0–100 scale. */
export interface ScoreStats {
  /** Images the detector scored. */
  n: number;
  /** Images the detector failed on (null score); they are excluded from every other field. */
  failed: number;
  /** Mean P(real) × 100; null when n = 0. */
  score: number | null;
  /** Percentile-bootstrap interval of `score`; null when n = 0. */
  scoreCi: [number, number] | null;
  /** Percentage of images with P(real) > 0.5; null when n = 0. */
  shareReal: number | null;
  /** Percentile-bootstrap interval of `shareReal`; null when n = 0. */
  shareRealCi: [number, number] | null;
}

/** One detector's column: all images, and per category (keys sorted). */
export interface DetectorReport {
  overall: ScoreStats;
  /**
   * Per category, inserted in sorted order. (JavaScript lists integer-like keys such as "7" first whatever the
   * insertion order; category names are words, so this does not arise in RealBench.)
   */
  byCategory: Record<string, ScoreStats>;
}

const DEFAULTS = { bootstrap: 1000, seed: 0, confidence: 0.95 };

/** One (detector, category) cell's usable scores and failure count. */
interface Cell {
  values: number[];
  failed: number;
}

/** Code-unit order: locale-independent, so the output is the same on every machine. */
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Linear-interpolation quantile of sorted values (numpy's default `percentile` method). */
function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

function stats(values: readonly number[], failed: number, rng: Rng, bootstrap: number, confidence: number): ScoreStats {
  const n = values.length;
  if (n === 0) return { n, failed, score: null, scoreCi: null, shareReal: null, shareRealCi: null };
  const real = values.map((v) => (v > 0.5 ? 1 : 0));
  const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

  // One resample of image indices feeds both statistics, as resampling images (not scores) is what the CI is about.
  const bootMeans = new Array<number>(bootstrap);
  const bootShares = new Array<number>(bootstrap);
  for (let b = 0; b < bootstrap; b++) {
    let sum = 0;
    let count = 0;
    for (let j = 0; j < n; j++) {
      const i = rng.int(n);
      sum += values[i] as number;
      count += real[i] as number;
    }
    bootMeans[b] = sum / n;
    bootShares[b] = count / n;
  }
  const alpha = (1 - confidence) / 2;
  const ci = (boot: number[]): [number, number] => {
    boot.sort((x, y) => x - y);
    return [quantile(boot, alpha) * 100, quantile(boot, 1 - alpha) * 100];
  };
  return {
    n,
    failed,
    score: mean(values) * 100,
    scoreCi: ci(bootMeans),
    shareReal: mean(real) * 100,
    shareRealCi: ci(bootShares),
  };
}

/**
 * Scores every detector named in the items, overall and per category.
 *
 * Every item must name every detector (a number in [0, 1] or null); a missing key is an error rather than a silent
 * failure, because it usually means a scoring job was skipped. The overall cell draws from `Rng.fromSeed(seed,
 * detector)` and each category cell from `Rng.fromSeed(seed, detector, category)`, so adding a detector or a category
 * does not change any other cell's interval. Result keys (detectors, categories) are in sorted order.
 */
export function scoreDetectors(
  items: readonly DetectorScoreItem[],
  options: DetectorScoringOptions = {},
): Record<string, DetectorReport> {
  const bootstrap = options.bootstrap ?? DEFAULTS.bootstrap;
  const seed = options.seed ?? DEFAULTS.seed;
  const confidence = options.confidence ?? DEFAULTS.confidence;
  const fail: (message: string) => never = (message) => {
    throw new Error(`detector scoring: ${message}`);
  };
  if (!Number.isInteger(bootstrap) || bootstrap < 1) fail(`options.bootstrap must be an integer ≥ 1, got ${bootstrap}`);
  if (!Number.isInteger(seed)) fail(`options.seed must be an integer, got ${seed}`);
  if (!(confidence > 0 && confidence < 1)) fail(`options.confidence must be in (0, 1), got ${confidence}`);

  const detectors = new Set<string>();
  const categories = new Set<string>(options.categories ?? []);
  const ids = new Set<string>();
  items.forEach((item, i) => {
    if (typeof item.id !== 'string' || item.id === '') fail(`item ${i}: id must be a non-empty string`);
    if (ids.has(item.id)) fail(`item ${i}: duplicate id "${item.id}"`);
    ids.add(item.id);
    if (typeof item.category !== 'string' || item.category === '') {
      fail(`item ${i} ("${item.id}"): category must be a non-empty string`);
    }
    categories.add(item.category);
    for (const name of Object.keys(item.scores)) detectors.add(name);
  });

  const report: Record<string, DetectorReport> = {};
  const sortedCategories = [...categories].sort(byCodeUnit);
  for (const detector of [...detectors].sort(byCodeUnit)) {
    const all: number[] = [];
    let allFailed = 0;
    const perCategory = new Map<string, Cell>(sortedCategories.map((c) => [c, { values: [], failed: 0 }]));
    items.forEach((item, i) => {
      const cell = perCategory.get(item.category) as Cell;
      const v = Object.prototype.hasOwnProperty.call(item.scores, detector) ? item.scores[detector] : undefined;
      if (v === null) {
        cell.failed++;
        allFailed++;
        return;
      }
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        fail(`item ${i} ("${item.id}"): score for "${detector}" must be a number in [0, 1] or null, got ${String(v)}`);
      }
      cell.values.push(v);
      all.push(v);
    });
    const byCategory: Record<string, ScoreStats> = {};
    for (const [category, cell] of perCategory) {
      byCategory[category] = stats(cell.values, cell.failed, Rng.fromSeed(seed, detector, category), bootstrap, confidence);
    }
    report[detector] = { overall: stats(all, allFailed, Rng.fromSeed(seed, detector), bootstrap, confidence), byCategory };
  }
  return report;
}
