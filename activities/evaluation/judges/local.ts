/**
 * Arena judge backend `local`: the named held-out detector decides. The image with the higher P(real) wins, or, with
 * `temperature`, the calibrated judge's seeded draw (domain/arena/calibrated-judge.ts, docs/evaluation.md).
 */
import type { RunConfig } from '../../../configs/schema';
import type { EvalSpec } from '../../../contracts/evaluation';
import { realgenFailure } from '../../../contracts/failures';
import { judgePairLocally, type RealnessScorer } from '../../../domain/arena/local-judge';
import { throwIfCancelled } from '../../cancellation';
import { heartbeat } from '../../heartbeat';
import type { EvaluationCaches } from '../evaluation-caches';
import type { JudgedItem } from '../shard-records';
import type { JudgeBackend } from './judge-backend';

/** The `evaluation.judge` block of the local backend. */
export type LocalJudgeConfig = Extract<RunConfig['evaluation']['judge'], { backend: 'local' }>;

export function localJudge(caches: EvaluationCaches, spec: EvalSpec, judge: LocalJudgeConfig): JudgeBackend {
  const { detector: detectorName, temperature } = judge;
  return async (pairs, shard) => {
    const ref = spec.config.evaluation.detectors.find((d) => d.name === detectorName);
    if (ref === undefined)
      throw realgenFailure('ConfigInvalid', `evaluation.judge.detector ${detectorName} is not an evaluation detector`);
    const detector = await caches.detector(spec, ref.manifest);
    const scorer: RealnessScorer = async (imgs) =>
      (await detector.scoreEncoded(imgs)).map((r) => {
        if (!r.ok) throw new Error(r.error);
        return r.pReal;
      });
    const items: JudgedItem[] = [];
    for (const [i, p] of pairs.entries()) {
      throwIfCancelled();
      const r = await judgePairLocally(
        { generated: p.generated, real: p.real },
        scorer,
        temperature === undefined ? {} : { calibrated: { temperature, pairId: p.id, seed: spec.config.seed } },
      );
      if ('error' in r) items.push({ id: p.id, category: p.category, error: r.error });
      else {
        items.push({
          id: p.id,
          category: p.category,
          verdict: { outcome: r.outcome, score: r.score, consistent: r.consistent, unparseable: r.unparseable },
          detail: r.scores,
        });
      }
      heartbeat({ shard, judged: i + 1, of: pairs.length });
    }
    return { items };
  };
}
