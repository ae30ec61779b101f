/** The score-per-step history of a training run's stage: earlier leaderboard entries of it plus this evaluation. Pure. */
import type { Headline } from '../../contracts/evaluation';
import type { HistoryPoint, LeaderboardEntry, ReportSource } from './report-model';

/** The evaluation the history is drawn for. */
export interface HistorySubject {
  evalKey: string;
  suite: string;
  source: ReportSource;
  headline: Pick<Headline, 'detectorScoring' | 'arenaWinRate'>;
}

/**
 * Points of every other entry of the same suite, run and stage, plus the subject's own, by step. Empty unless the
 * subject is a training checkpoint.
 */
export function historyOf(subject: HistorySubject, entries: readonly LeaderboardEntry[]): HistoryPoint[] {
  const { source } = subject;
  if (source.kind !== 'mini-checkpoint' || source.checkpoint === null) return [];
  const ck = source.checkpoint;
  const history: HistoryPoint[] = [];
  for (const e of entries) {
    if (e.evalKey === subject.evalKey || e.suite !== subject.suite || e.source.kind !== 'mini-checkpoint') continue;
    const c = e.source.checkpoint;
    if (c?.runId !== ck.runId || c.stage !== ck.stage) continue;
    history.push({
      evalKey: e.evalKey,
      step: c.step,
      stage: c.stage,
      detectorScoring: e.detectorScoring,
      arenaWinRate: e.arenaWinRate,
    });
  }
  history.push({
    evalKey: subject.evalKey,
    step: ck.step,
    stage: ck.stage,
    detectorScoring: subject.headline.detectorScoring,
    arenaWinRate: subject.headline.arenaWinRate,
  });
  return history.sort((a, b) => a.step - b.step);
}
