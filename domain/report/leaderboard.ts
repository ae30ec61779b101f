/**
 * The leaderboard: the real photos, the base generator and every evaluated model as rows, with Bradley–Terry
 * ratings against the real photos. Pure.
 *
 * Anchoring: every arena comparison is (model vs its real photo), so each row is fitted on its own comparisons
 * against "real", pinned at 1000 (domain/arena/bradley-terry, one virtual tie as prior). A row's rating therefore
 * depends only on its own outcomes: adding or removing other rows never moves it. 1000 = as realistic as the real
 * photos; 400 points below = the judge prefers the real photo 10:1.
 *
 * Order (LEADERBOARD_SORT_KEY): rating, then the mean of the non-held-out detector scores, then the name.
 */
import { fitBradleyTerry, RATING_CENTER, type PairwiseComparison } from '../arena/bradley-terry';
import type { LeaderboardEntry } from './report-model';

/** The player name of the real photos. */
export const REAL_PLAYER = 'real';
/** The row name of the real photos. */
export const REAL_ROW_NAME = 'real photos';

/** What a row stands for. */
export type LeaderboardRowKind = 'real' | 'base' | 'checkpoint' | 'images' | 'command';

/** A leaderboard row; this exact shape is what `realgen leaderboard --json` prints under `rows`. */
export interface LeaderboardRow {
  name: string;
  kind: LeaderboardRowKind;
  /** The evaluation behind the row; null for the real photos. */
  evalKey: string | null;
  /** Mean P(real) × 100 per detector (empty for the real photos: they are the reference, not a subject). */
  detectorScoring: Record<string, number | null>;
  /** Win rate against the real photos in [0, 1] (0.5 for the real photos themselves, by definition). */
  arenaWinRate: number | null;
  /** 95% Wilson interval of the win rate. */
  arenaCi: [number, number] | null;
  /** Bradley–Terry rating (real photos = 1000) with its bootstrap interval; null without judged pairs. */
  bt: { rating: number; ci: [number, number] } | null;
  /** Images that failed in this evaluation; rows with failures rank below every complete row. */
  failedImages: number;
}

/** A detector column; held-out detectors (never used as a training reward) are marked. */
export interface LeaderboardColumn {
  detector: string;
  heldout: boolean;
}

export interface LeaderboardOptions {
  /** Only entries of this suite (ratings from different prompt sets are not comparable). */
  suite?: string;
  /** Bradley–Terry bootstrap resamples per row. @default 200 */
  bootstrap?: number;
  /** @default 0 */
  seed?: number;
  /** Detectors to mark as held-out. @default none */
  heldoutDetectors?: readonly string[];
}

export interface Leaderboard {
  columns: LeaderboardColumn[];
  rows: LeaderboardRow[];
  sortedBy: string;
  /** What the numbers mean, for a footer. */
  notes: string[];
}

export const LEADERBOARD_SORT_KEY =
  'complete evaluations before those with failed images, then Bradley–Terry rating (desc), then mean non-held-out detector score (desc), then name';

/**
 * Row names: the entry's name, or `name@evalKey` where two selected entries share a name (so rows stay
 * distinguishable). A name equal to "real" or "real photos" is suffixed too.
 */
export function rowNames(entries: readonly LeaderboardEntry[]): string[] {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
  return entries.map((e) =>
    (counts.get(e.name) ?? 0) > 1 || e.name === REAL_PLAYER || e.name === REAL_ROW_NAME ? `${e.name}@${e.evalKey}` : e.name,
  );
}

/** Each entry's outcomes as comparisons (player vs "real"). */
export function comparisonsOf(
  entries: readonly LeaderboardEntry[],
  names: readonly string[] = rowNames(entries),
): PairwiseComparison[] {
  const out: PairwiseComparison[] = [];
  entries.forEach((e, i) => {
    const a = names[i] ?? e.name;
    for (const o of e.outcomes)
      out.push({ a, b: REAL_PLAYER, winner: o.outcome === 'win' ? 'a' : o.outcome === 'loss' ? 'b' : 'tie' });
  });
  return out;
}

function kindOf(e: LeaderboardEntry): LeaderboardRowKind {
  if (e.source.kind === 'mini-checkpoint') return e.source.checkpoint === null ? 'base' : 'checkpoint';
  return e.source.kind;
}

/** The row's rating from its own comparisons against the real photos only (so other rows cannot move it). */
function ratingOf(name: string, comparisons: PairwiseComparison[], bootstrap: number, seed: number): LeaderboardRow['bt'] {
  if (comparisons.length === 0) return null;
  const fit = fitBradleyTerry(comparisons, { reference: REAL_PLAYER, bootstrap, seed });
  const r = fit.ratings.find((x) => x.player === name);
  return r === undefined ? null : { rating: r.rating, ci: [r.lower, r.upper] };
}

/** Mean of the non-held-out detector scores of a row; null when it has none. */
export function heldInMean(row: Pick<LeaderboardRow, 'detectorScoring'>, heldout: ReadonlySet<string>): number | null {
  const values = Object.entries(row.detectorScoring).flatMap(([d, v]) => (heldout.has(d) || v === null ? [] : [v]));
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * Compares two rows by LEADERBOARD_SORT_KEY (nulls last at every level). Complete evaluations come before those
 * with failed images: a partial evaluation's failures may have removed exactly the pairs it would have lost.
 */
export function compareRows(heldout: ReadonlySet<string>) {
  const desc = (x: number | null, y: number | null) => (x === y ? 0 : x === null ? 1 : y === null ? -1 : y - x);
  return (a: LeaderboardRow, b: LeaderboardRow): number =>
    Number(a.failedImages > 0) - Number(b.failedImages > 0) ||
    desc(a.bt?.rating ?? null, b.bt?.rating ?? null) ||
    desc(heldInMean(a, heldout), heldInMean(b, heldout)) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Builds the board: the real photos' row, one row per selected entry, columns with held-out marks, and notes. */
export function buildLeaderboard(entries: readonly LeaderboardEntry[], options: LeaderboardOptions = {}): Leaderboard {
  const selected = options.suite === undefined ? [...entries] : entries.filter((e) => e.suite === options.suite);
  selected.sort((x, y) => (x.evalKey < y.evalKey ? -1 : x.evalKey > y.evalKey ? 1 : 0));
  const names = rowNames(selected);
  const bootstrap = options.bootstrap ?? 200;
  const seed = options.seed ?? 0;
  const heldout = new Set(options.heldoutDetectors ?? []);
  const rows: LeaderboardRow[] = selected.map((e, i) => {
    const name = names[i] ?? e.name;
    return {
      name,
      kind: kindOf(e),
      evalKey: e.evalKey,
      detectorScoring: { ...e.detectorScoring },
      arenaWinRate: e.arenaWinRate,
      arenaCi: e.arenaCi,
      bt: ratingOf(name, comparisonsOf([e], [name]), bootstrap, seed),
      failedImages: e.failedImages ?? 0,
    };
  });
  if (rows.length > 0) {
    rows.push({
      name: REAL_ROW_NAME,
      kind: 'real',
      evalKey: null,
      detectorScoring: {},
      arenaWinRate: 0.5,
      arenaCi: null,
      bt: { rating: RATING_CENTER, ci: [RATING_CENTER, RATING_CENTER] },
      failedImages: 0,
    });
  }
  rows.sort(compareRows(heldout));
  const detectors = [...new Set(rows.flatMap((r) => Object.keys(r.detectorScoring)))].sort();
  // Held-out columns last, so the reward detectors a model was trained on sit together.
  const columns = [...detectors.filter((d) => !heldout.has(d)), ...detectors.filter((d) => heldout.has(d))].map((d) => ({
    detector: d,
    heldout: heldout.has(d),
  }));
  return {
    columns,
    rows,
    sortedBy: LEADERBOARD_SORT_KEY,
    notes: [
      'Bradley–Terry: each row is fitted on its own arena pairs against the real photos, pinned at 1000,',
      'so ratings do not move when rows are added; 400 points below 1000 = the judge prefers the real photo 10:1.',
      'Arena win rate: 50% = indistinguishable from the real photos.',
      'Detector columns: mean P(real) × 100; "held-out" detectors were never a training reward.',
      'The real photos are the reference: they have no detector scores here.',
      'Rows with failed images rank below every complete row.',
      `Sorted by ${LEADERBOARD_SORT_KEY}.`,
    ],
  };
}
