/**
 * The evaluation report as stored in `evals/<evalKey>/report.json`, and the leaderboard entry stored in
 * `leaderboard/entries/<safe evalKey>.json`. Plain JSON; no Node built-ins.
 */
import type { Headline } from '../../contracts/evaluation';
import type { ArenaOutcome, ArenaSummary } from '../arena/verdict';
import type { DetectorReport } from '../realbench/detector-scoring';

export const REPORT_SCHEMA = 'realgen/evaluation-report@1';
export const LEADERBOARD_ENTRY_SCHEMA = 'realgen/leaderboard-entry@1';

/** What was evaluated, without secrets or local paths. */
export type ReportSource =
  | {
      kind: 'mini-checkpoint';
      checkpoint: { runId: string; stage: string; step: number; prefix: string; manifestSha256: string } | null;
    }
  | { kind: 'images'; s3Prefix: string }
  | { kind: 'command'; command: string };

/** A chart stored next to the report. */
export interface ReportChart {
  name: string;
  title: string;
  /** Object key of the PNG. */
  key: string;
  /** Series names in palette order. */
  series: string[];
  /** Group names in bar order (bar charts), numbered 1.. under the axis. */
  groups: string[];
}

/** One point of the score-per-step history of a training run. */
export interface HistoryPoint {
  evalKey: string;
  step: number;
  stage: string;
  detectorScoring: Record<string, number | null>;
  arenaWinRate: number | null;
}

export interface EvaluationReport {
  schema: typeof REPORT_SCHEMA;
  evalKey: string;
  name: string;
  suite: string;
  source: ReportSource;
  createdAt: string;
  images: number;
  realbenchDigest: string;
  configDigest: string;
  /** Digest of everything that determines the outputs (source, suite, models, judge, seed, shard size). */
  evalDigest: string;
  detectors: Array<{ name: string; heldout: boolean }>;
  detectorScoring: Record<string, DetectorReport>;
  arena: {
    /** `local:<detector>` or `openai:<model>`. */
    judge: string;
    overall: ArenaSummary;
    byCategory: Record<string, ArenaSummary>;
    /** Pairs the judge could not judge at all (unreadable image, exhausted requests); excluded from the rates. */
    errors: number;
    /** Requests and tokens spent (OpenAI-compatible judge). */
    cost?: { requests: number; retries: number; parseRetries: number; promptTokens: number; completionTokens: number };
  };
  headline: Headline;
  charts: ReportChart[];
  /** Generated-vs-real contact sheet. */
  grid: { key: string; ids: string[] } | null;
  /** Earlier evaluations of the same run and suite, by step (mini checkpoints only). */
  history: HistoryPoint[];
  /** Object keys of the report's files. */
  keys: { json: string; md: string; html: string; leaderboardEntry: string };
  /** GPU slot-seconds of generation and scoring, and the configured price (absent in older reports). */
  gpu?: { seconds: number; costPerGpuHour?: number };
}

/** One pair outcome of the generated image against its real photo. */
export interface PairOutcome {
  id: string;
  outcome: ArenaOutcome;
}

/** A leaderboard entry: the row's inputs plus the raw pairwise outcomes Bradley–Terry needs. */
export interface LeaderboardEntry {
  schema: typeof LEADERBOARD_ENTRY_SCHEMA;
  evalKey: string;
  name: string;
  suite: string;
  source: ReportSource;
  createdAt: string;
  detectorScoring: Record<string, number | null>;
  arenaWinRate: number | null;
  arenaCi: [number, number] | null;
  positionConsistency: number | null;
  outcomes: PairOutcome[];
  /**
   * Images of the suite that could not be scored or judged (unreadable, missing, failed); absent in entries
   * written before this field existed (read as 0). An entry with failures never ranks above a complete one.
   */
  failedImages?: number;
}

export type { Headline };
