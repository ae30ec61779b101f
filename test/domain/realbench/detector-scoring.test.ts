import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scoreDetectors, type DetectorScoreItem, type ScoreStats } from '../../../domain/realbench/detector-scoring';

const close = (actual: number | null, expected: number, what: string) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: got ${actual}, expected ${expected}`);

function point(s: ScoreStats | undefined): Pick<ScoreStats, 'n' | 'failed' | 'score' | 'shareReal'> {
  assert.ok(s);
  return { n: s.n, failed: s.failed, score: s.score, shareReal: s.shareReal };
}

function checkPoint(
  s: ScoreStats | undefined,
  expected: { n: number; failed: number; score: number; shareReal: number },
  what: string,
) {
  const p = point(s);
  assert.equal(p.n, expected.n, `${what}.n`);
  assert.equal(p.failed, expected.failed, `${what}.failed`);
  close(p.score, expected.score, `${what}.score`);
  close(p.shareReal, expected.shareReal, `${what}.shareReal`);
}

const SMALL: DetectorScoreItem[] = [
  { id: '1', category: 'people', scores: { omniaid: 0.9, forensic: 0.2 } },
  { id: '2', category: 'people', scores: { omniaid: 0.6, forensic: null } },
  { id: '3', category: 'people', scores: { omniaid: 0.3, forensic: 0.8 } },
  { id: '4', category: 'animals', scores: { omniaid: 0.5, forensic: 0.7 } },
  { id: '5', category: 'animals', scores: { omniaid: 0.1, forensic: 0.4 } },
];

/** n items whose scores cycle through 0.05, 0.15, …, 0.95 (mean 0.5, half above 0.5). */
function cycle(n: number, category = 'c'): DetectorScoreItem[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${category}${i}`, category, scores: { d: (i % 10) / 10 + 0.05 } }));
}

describe('scoreDetectors', () => {
  it('computes exact means and shares (×100) overall and per category, excluding failed images', () => {
    const r = scoreDetectors(SMALL, { bootstrap: 200 });
    // omniaid: overall mean 2.4/5 = 0.48; > 0.5 are 0.9 and 0.6 (0.5 itself is not) → 2/5.
    checkPoint(r.omniaid?.overall, { n: 5, failed: 0, score: 48, shareReal: 40 }, 'omniaid.overall');
    checkPoint(r.omniaid?.byCategory.people, { n: 3, failed: 0, score: 60, shareReal: (2 / 3) * 100 }, 'omniaid.people');
    checkPoint(r.omniaid?.byCategory.animals, { n: 2, failed: 0, score: 30, shareReal: 0 }, 'omniaid.animals');
    // forensic: image 2 failed; overall mean 2.1/4 = 0.525, > 0.5 are 0.8 and 0.7 → 2/4.
    checkPoint(r.forensic?.overall, { n: 4, failed: 1, score: 52.5, shareReal: 50 }, 'forensic.overall');
    checkPoint(r.forensic?.byCategory.people, { n: 2, failed: 1, score: 50, shareReal: 50 }, 'forensic.people');
    checkPoint(r.forensic?.byCategory.animals, { n: 2, failed: 0, score: 55, shareReal: 50 }, 'forensic.animals');
  });

  it('lists detectors and categories in sorted order', () => {
    const r = scoreDetectors(SMALL, { bootstrap: 10 });
    assert.deepEqual(Object.keys(r), ['forensic', 'omniaid']);
    assert.deepEqual(Object.keys(r.omniaid?.byCategory ?? {}), ['animals', 'people']);
  });

  it('gives confidence intervals that contain the estimate, stay in [0, 100] and narrow with more data', () => {
    const width = (ci: [number, number] | null) => (ci ? ci[1] - ci[0] : NaN);
    const small = scoreDetectors(cycle(20)).d?.overall;
    const large = scoreDetectors(cycle(2000)).d?.overall;
    for (const s of [small, large]) {
      assert.ok(s && s.score !== null && s.scoreCi && s.shareReal !== null && s.shareRealCi);
      close(s.score, 50, 'score');
      close(s.shareReal, 50, 'shareReal');
      assert.ok(s.scoreCi[0] <= s.score && s.score <= s.scoreCi[1], `score CI ${s.scoreCi} must contain ${s.score}`);
      assert.ok(
        s.shareRealCi[0] <= s.shareReal && s.shareReal <= s.shareRealCi[1],
        `share CI ${s.shareRealCi} must contain ${s.shareReal}`,
      );
      assert.ok(s.scoreCi[0] >= 0 && s.scoreCi[1] <= 100 && s.shareRealCi[0] >= 0 && s.shareRealCi[1] <= 100);
    }
    // The standard error shrinks as 1/√n: 100× the data should give a CI about 10× narrower; demand at least 5×.
    assert.ok(width(large!.scoreCi) * 5 < width(small!.scoreCi), `score CI ${large!.scoreCi} vs ${small!.scoreCi}`);
    assert.ok(
      width(large!.shareRealCi) * 5 < width(small!.shareRealCi),
      `share CI ${large!.shareRealCi} vs ${small!.shareRealCi}`,
    );
    // A 50% interval is narrower than the 95% one from the same seed.
    const narrow = scoreDetectors(cycle(20), { confidence: 0.5 }).d?.overall;
    assert.ok(width(narrow!.scoreCi) < width(small!.scoreCi));
  });

  it('collapses the interval to the value itself for a single image', () => {
    const s = scoreDetectors([{ id: 'x', category: 'c', scores: { d: 0.75 } }]).d?.overall;
    assert.deepEqual(s, { n: 1, failed: 0, score: 75, scoreCi: [75, 75], shareReal: 100, shareRealCi: [100, 100] });
  });

  it('is reproducible: the same seed gives identical output, another seed other intervals', () => {
    const items = [...cycle(30, 'a'), ...cycle(40, 'b')];
    const one = scoreDetectors(items, { seed: 7 });
    assert.deepEqual(scoreDetectors(items, { seed: 7 }), one);
    assert.notDeepEqual(scoreDetectors(items, { seed: 8 }).d?.overall.scoreCi, one.d?.overall.scoreCi);
    // Each category has its own random stream, so adding images elsewhere leaves its interval alone.
    const more = scoreDetectors([...items, ...cycle(25, 'z')], { seed: 7 });
    assert.deepEqual(more.d?.byCategory.a, one.d?.byCategory.a);
  });

  it('reports n = 0 cells with null score and CI, never NaN', () => {
    const items: DetectorScoreItem[] = [
      { id: '1', category: 'people', scores: { d: 0.9, e: null } },
      { id: '2', category: 'people', scores: { d: 0.1, e: null } },
    ];
    const r = scoreDetectors(items, { categories: ['dishes', 'people'], bootstrap: 50 });
    const empty = { score: null, scoreCi: null, shareReal: null, shareRealCi: null };
    // A requested category no image belongs to.
    assert.deepEqual(r.d?.byCategory.dishes, { n: 0, failed: 0, ...empty });
    // A detector that failed on every image.
    assert.deepEqual(r.e?.overall, { n: 0, failed: 2, ...empty });
    assert.deepEqual(r.e?.byCategory.people, { n: 0, failed: 2, ...empty });
    assert.deepEqual(Object.keys(r.e?.byCategory ?? {}), ['dishes', 'people']);
    // An empty input gives an empty report.
    assert.deepEqual(scoreDetectors([]), {});
  });

  it('rejects malformed items and options, naming the item and the field', () => {
    assert.throws(
      () =>
        scoreDetectors([
          { id: 'a', category: 'c', scores: { d: 0.5 } },
          { id: 'b', category: 'c', scores: {} },
        ]),
      /item 1 \("b"\): score for "d" must be a number in \[0, 1\] or null, got undefined/,
    );
    assert.throws(
      () => scoreDetectors([{ id: 'a', category: 'c', scores: { d: 1.5 } }]),
      /item 0 \("a"\): score for "d".*got 1\.5/,
    );
    assert.throws(() => scoreDetectors([{ id: 'a', category: 'c', scores: { d: Number.NaN } }]), /got NaN/);
    assert.throws(
      () =>
        scoreDetectors([
          { id: 'a', category: 'c', scores: {} },
          { id: 'a', category: 'c', scores: {} },
        ]),
      /item 1: duplicate id "a"/,
    );
    assert.throws(
      () => scoreDetectors([{ id: 'a', category: '', scores: {} }]),
      /item 0 \("a"\): category must be a non-empty string/,
    );
    assert.throws(() => scoreDetectors([], { bootstrap: 0 }), /options\.bootstrap must be an integer ≥ 1/);
    assert.throws(() => scoreDetectors([], { confidence: 1 }), /options\.confidence must be in \(0, 1\)/);
    assert.throws(() => scoreDetectors([], { seed: 0.5 }), /options\.seed must be an integer/);
  });
});
