/**
 * The leaderboard: one row per evaluation entry, plus a Bradley–Terry fit over every entry's pairwise outcomes
 * against the real photos, with "real" as a player pinned at rating 1000. Every comparison is (model vs real), so a
 * model's rating is a calibrated transform of its win rate that shares one scale across models; bootstrap intervals
 * come from domain/arena/bradley-terry. Pure.
 */
import { fitBradleyTerry, type BradleyTerryFit, type PairwiseComparison } from '../arena/bradley-terry';
import type { LeaderboardEntry } from './report-model';

/** The player name of the real photos. */
export const REAL_PLAYER = 'real';

/** A leaderboard row; this exact shape is what `realgen leaderboard --json` prints. */
export interface LeaderboardRow {
  name: string;
  /** Mean P(real) × 100 per detector. */
  detectorScoring: Record<string, number | null>;
  /** Win rate against the real photos in [0, 1]. */
  arenaWinRate: number | null;
  /** 95% Wilson interval of the win rate. */
  arenaCi: [number, number] | null;
  /** Bradley–Terry rating (real photos = 1000) with its bootstrap interval; null without judged pairs. */
  bt: { rating: number; ci: [number, number] } | null;
  /** Images that failed in this evaluation; rows with failures rank below every complete row. */
  failedImages: number;
}

export interface LeaderboardOptions {
  /** Only entries of this suite (ratings from different prompt sets are not comparable). */
  suite?: string;
  /** Bradley–Terry bootstrap resamples. @default 200 */
  bootstrap?: number;
  /** @default 0 */
  seed?: number;
}

export interface Leaderboard {
  rows: LeaderboardRow[];
  /** The fit, including the "real" player. */
  fit: BradleyTerryFit;
}

/**
 * Row names: the entry's name, or `name@evalKey` where two selected entries share a name (so neither player
 * swallows the other's comparisons). A name equal to "real" is suffixed too.
 */
export function rowNames(entries: readonly LeaderboardEntry[]): string[] {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
  return entries.map((e) => ((counts.get(e.name) ?? 0) > 1 || e.name === REAL_PLAYER ? `${e.name}@${e.evalKey}` : e.name));
}

/** Each entry's outcomes as comparisons (player vs "real"). */
export function comparisonsOf(entries: readonly LeaderboardEntry[], names: readonly string[] = rowNames(entries)): PairwiseComparison[] {
  const out: PairwiseComparison[] = [];
  entries.forEach((e, i) => {
    const a = names[i] ?? e.name;
    for (const o of e.outcomes) out.push({ a, b: REAL_PLAYER, winner: o.outcome === 'win' ? 'a' : o.outcome === 'loss' ? 'b' : 'tie' });
  });
  return out;
}

/**
 * Builds the rows: complete evaluations first, then those with failed images (a partial evaluation is never
 * ranked above a complete one: its failures may have removed exactly the pairs it would have lost); within each
 * group best Bradley–Terry rating first, entries without pairs last, by name.
 */
export function buildLeaderboard(entries: readonly LeaderboardEntry[], options: LeaderboardOptions = {}): Leaderboard {
  const selected = options.suite === undefined ? [...entries] : entries.filter((e) => e.suite === options.suite);
  selected.sort((x, y) => (x.evalKey < y.evalKey ? -1 : x.evalKey > y.evalKey ? 1 : 0));
  const names = rowNames(selected);
  const fit = fitBradleyTerry(comparisonsOf(selected, names), { reference: REAL_PLAYER, bootstrap: options.bootstrap ?? 200, seed: options.seed ?? 0 });
  const byPlayer = new Map(fit.ratings.map((r) => [r.player, r]));
  const rows: LeaderboardRow[] = selected.map((e, i) => {
    const rating = byPlayer.get(names[i] ?? e.name);
    return {
      name: names[i] ?? e.name,
      detectorScoring: { ...e.detectorScoring },
      arenaWinRate: e.arenaWinRate,
      arenaCi: e.arenaCi,
      bt: rating === undefined ? null : { rating: rating.rating, ci: [rating.lower, rating.upper] },
      failedImages: e.failedImages ?? 0,
    };
  });
  rows.sort((a, b) => {
    if ((a.failedImages > 0) !== (b.failedImages > 0)) return a.failedImages > 0 ? 1 : -1;
    if (a.bt && b.bt && a.bt.rating !== b.bt.rating) return b.bt.rating - a.bt.rating;
    if (a.bt && !b.bt) return -1;
    if (!a.bt && b.bt) return 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  return { rows, fit };
}
