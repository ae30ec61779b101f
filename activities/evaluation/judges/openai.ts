/**
 * Arena judge backend `openai`: an OpenAI-compatible vision model (infra/judges/openai-judge.ts). The API key is
 * resolved here from its SecretRef and never enters an input, result, heartbeat or log.
 */
import { readSecret } from '../../../configs/secrets';
import type { RunConfig } from '../../../configs/schema';
import type { EvalSpec } from '../../../contracts/evaluation';
import { OpenAiJudge } from '../../../infra/judges/openai-judge';
import { cancellation } from '../../cancellation';
import { heartbeat } from '../../heartbeat';
import type { JudgedItem } from '../shard-records';
import type { JudgeBackend } from './judge-backend';

type OpenAiJudgeConfig = Extract<RunConfig['evaluation']['judge'], { backend: 'openai' }>;

export function openAiJudge(spec: EvalSpec, judge: OpenAiJudgeConfig, fetchImpl?: typeof fetch): JudgeBackend {
  return async (pairs, shard) => {
    const apiKey = readSecret(judge.apiKey, spec.configBaseDir, 'evaluation.judge.apiKey');
    const llm = new OpenAiJudge({
      baseUrl: judge.baseUrl,
      model: judge.model,
      apiKey,
      concurrency: judge.concurrency,
      timeoutMs: Math.round(judge.timeoutSeconds * 1000),
      maxRetries: judge.maxRetries,
      seed: spec.config.seed,
      ...(fetchImpl ? { fetchImpl } : {}),
    });
    const items: JudgedItem[] = [];
    const chunk = Math.max(1, judge.concurrency * 2);
    for (let start = 0; start < pairs.length; start += chunk) {
      const slice = pairs.slice(start, start + chunk);
      const results = await llm.judgePairs(
        slice.map((p) => ({ generated: p.generated, real: p.real, caption: p.caption })),
        cancellation(),
      );
      results.forEach((r, i) => {
        const p = slice[i];
        if (p === undefined) return;
        if ('error' in r) items.push({ id: p.id, category: p.category, error: r.error });
        else {
          items.push({
            id: p.id,
            category: p.category,
            verdict: { outcome: r.outcome, score: r.score, consistent: r.consistent, unparseable: r.unparseable },
            detail: { answers: r.answers },
          });
        }
      });
      heartbeat({ shard, judged: Math.min(pairs.length, start + chunk), of: pairs.length });
    }
    return { items, cost: llm.cost };
  };
}
