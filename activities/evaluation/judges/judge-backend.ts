/** The contract both arena judge backends (local detector, OpenAI-compatible model) fulfil for a shard. */
import type { JudgeCost } from '../../../infra/judges/openai-judge';
import type { JudgedItem } from '../shard-records';

/** A generated image and its real photo, with the caption the judge may see. */
export interface JudgePair {
  id: string;
  category: string;
  caption: string;
  generated: Buffer;
  real: Buffer;
}

/** Every pair's verdict or error, in pair order, and what judging cost (model backends). */
export interface JudgeOutcome {
  items: JudgedItem[];
  cost?: JudgeCost;
}

/** Judges each pair in both orders, heartbeating with `shard`'s progress. */
export type JudgeBackend = (pairs: readonly JudgePair[], shard: number) => Promise<JudgeOutcome>;
