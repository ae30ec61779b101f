import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitBradleyTerry, type PairwiseComparison } from '../../../domain/arena/bradley-terry';
import { Rng } from '../../../lib/random';

/** Pair-balanced games from known Elo-scale ratings: every pair meets `perPair` times, sides alternating. */
function simulate(trueRatings: Record<string, number>, perPair: number, seed: number): PairwiseComparison[] {
  const rng = Rng.fromSeed(seed, 'bt-sim');
  const players = Object.keys(trueRatings);
  const out: PairwiseComparison[] = [];
  for (let i = 0; i < players.length; i++) {
    for (let j = i + 1; j < players.length; j++) {
      const a = players[i] ?? '';
      const b = players[j] ?? '';
      const pA = 1 / (1 + 10 ** (((trueRatings[b] ?? 0) - (trueRatings[a] ?? 0)) / 400));
      for (let g = 0; g < perPair; g++) {
        const aWins = rng.uniform() < pA;
        out.push(g % 2 === 0 ? { a, b, winner: aWins ? 'a' : 'b' } : { a: b, b: a, winner: aWins ? 'b' : 'a' });
      }
    }
  }
  return out;
}

const byPlayer = (fit: ReturnType<typeof fitBradleyTerry>) => new Map(fit.ratings.map((r) => [r.player, r]));

describe('fitBradleyTerry', () => {
  it('recovers known ratings, anchored so "real" sits at 1000', () => {
    const truth = { real: 1000, modelA: 1200, modelB: 900 };
    const fit = fitBradleyTerry(simulate(truth, 4000, 1), { bootstrap: 0 });
    assert.equal(fit.reference, 'real');
    assert.ok(fit.converged);
    const r = byPlayer(fit);
    assert.equal(r.get('real')?.rating, 1000);
    assert.ok(Math.abs((r.get('modelA')?.rating ?? 0) - 1200) < 20, `modelA ${r.get('modelA')?.rating}`);
    assert.ok(Math.abs((r.get('modelB')?.rating ?? 0) - 900) < 20, `modelB ${r.get('modelB')?.rating}`);
    assert.deepEqual(
      fit.ratings.map((x) => x.player),
      ['modelA', 'real', 'modelB'],
      'best first',
    );
  });

  it('solves the penalised likelihood equations (MM fixed point, with the one-tie anchor prior)', () => {
    const comps = simulate({ x: 1000, y: 1100, z: 850, w: 1000 }, 7, 3);
    comps.push({ a: 'x', b: 'y', winner: 'tie' }, { a: 'z', b: 'w', winner: 'tie' });
    const fit = fitBradleyTerry(comps, { bootstrap: 0 });
    const p = new Map(fit.ratings.map((r) => [r.player, r.strength]));
    for (const player of p.keys()) {
      const pi = p.get(player) ?? 0;
      let observed = 0.5; // the virtual tie against the anchor
      let expected = pi / (pi + 1);
      for (const c of comps) {
        if (c.a !== player && c.b !== player) continue;
        const other = p.get(c.a === player ? c.b : c.a) ?? 0;
        expected += pi / (pi + other);
        observed += c.winner === 'tie' ? 0.5 : (c.winner === 'a') === (c.a === player) ? 1 : 0;
      }
      assert.ok(Math.abs(observed - expected) < 1e-8, `${player}: observed ${observed}, expected ${expected}`);
    }
  });

  it('anchors the mean at 1000 when the reference player is absent', () => {
    const fit = fitBradleyTerry(simulate({ x: 1000, y: 1100, z: 850 }, 50, 2), { bootstrap: 0 });
    assert.equal(fit.reference, null);
    const mean = fit.ratings.reduce((s, r) => s + r.rating, 0) / fit.ratings.length;
    assert.ok(Math.abs(mean - 1000) < 1e-9);
    const custom = fitBradleyTerry(simulate({ x: 1000, y: 1100, z: 850 }, 50, 2), { bootstrap: 0, reference: 'z' });
    assert.equal(custom.reference, 'z');
    assert.equal(byPlayer(custom).get('z')?.rating, 1000);
  });

  it('gives a player with only wins a finite rating above everyone, with a finite interval', () => {
    const comps: PairwiseComparison[] = [];
    for (let k = 0; k < 20; k++) comps.push({ a: 'champ', b: 'real', winner: 'a' }, { a: 'real', b: 'champ', winner: 'b' });
    for (let k = 0; k < 20; k++) comps.push({ a: 'mid', b: 'real', winner: k % 2 === 0 ? 'a' : 'b' });
    const fit = fitBradleyTerry(comps, { bootstrap: 50, seed: 5 });
    const champ = byPlayer(fit).get('champ');
    assert.ok(champ);
    assert.equal(champ.wins, 40);
    assert.equal(champ.losses, 0);
    for (const v of [champ.rating, champ.lower, champ.upper]) assert.ok(Number.isFinite(v), `not finite: ${v}`);
    assert.equal(fit.ratings[0]?.player, 'champ');
  });

  it('counts ties as half a win: all-tie players share a rating', () => {
    const comps: PairwiseComparison[] = Array.from({ length: 10 }, () => ({ a: 'real', b: 'gen', winner: 'tie' as const }));
    const r = byPlayer(fitBradleyTerry(comps, { bootstrap: 10 }));
    assert.ok(Math.abs((r.get('gen')?.rating ?? 0) - 1000) < 1e-6);
    assert.equal(r.get('gen')?.ties, 10);
  });

  it('is deterministic for a seed and varies the intervals with it', () => {
    const comps = simulate({ real: 1000, a: 1100, b: 950 }, 40, 9);
    const one = fitBradleyTerry(comps, { bootstrap: 60, seed: 11 });
    assert.deepEqual(fitBradleyTerry(comps, { bootstrap: 60, seed: 11 }), one);
    const other = fitBradleyTerry(comps, { bootstrap: 60, seed: 12 });
    assert.deepEqual(
      other.ratings.map((r) => r.rating),
      one.ratings.map((r) => r.rating),
      'the point fit does not depend on the seed',
    );
    assert.notDeepEqual(
      other.ratings.map((r) => r.lower),
      one.ratings.map((r) => r.lower),
    );
  });

  it('covers the true rating with its 95% intervals in at least 90% of (trial, player) cases', () => {
    // 5 players, 30 games per pair (300 per trial), B = 200, 200 trials: about 4 s on one core. The reference has a
    // zero-width interval at its pinned 1000 by construction, so only the four others are counted.
    const truth = { real: 1000, a: 1150, b: 1000, c: 900, d: 700 };
    let covered = 0;
    let cases = 0;
    for (let trial = 0; trial < 200; trial++) {
      const fit = fitBradleyTerry(simulate(truth, 30, 1000 + trial), { bootstrap: 200, seed: trial });
      for (const r of fit.ratings) {
        if (r.player === 'real') {
          assert.deepEqual([r.lower, r.rating, r.upper], [1000, 1000, 1000]);
          continue;
        }
        const t = truth[r.player as keyof typeof truth];
        assert.ok(r.lower <= r.rating && r.rating <= r.upper, `${r.player}: rating outside its own interval`);
        cases++;
        if (r.lower <= t && t <= r.upper) covered++;
      }
    }
    assert.equal(cases, 800);
    assert.ok(covered / cases >= 0.9, `coverage ${covered / cases}`);
  });

  it('returns an empty fit for no comparisons and names bad input', () => {
    const empty = fitBradleyTerry([]);
    assert.deepEqual(empty.ratings, []);
    assert.equal(empty.reference, null);
    assert.throws(
      () => fitBradleyTerry([{ a: 'x', b: 'x', winner: 'a' }]),
      /comparisons\[0\]: expected two different players, got "x" twice/,
    );
    assert.throws(
      () =>
        fitBradleyTerry([
          { a: 'x', b: 'y', winner: 'a' },
          { a: 'x', b: 'y', winner: 'draw' as 'tie' },
        ]),
      /comparisons\[1\]\.winner: expected "a", "b" or "tie", got "draw"/,
    );
    assert.throws(() => fitBradleyTerry([{ a: '', b: 'y', winner: 'a' }]), /comparisons\[0\]\.a: expected a non-empty string/);
    assert.throws(() => fitBradleyTerry([], { bootstrap: -1 }), /bootstrap: expected an integer >= 0, got -1/);
    assert.throws(() => fitBradleyTerry([], { confidence: 2 }), /confidence: expected a number in \(0, 1\)/);
  });
});
