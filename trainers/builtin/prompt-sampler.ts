/**
 * The training prompt stream: RealBench's non-held-out prompts in a seeded order, reshuffled each pass.
 * Its only state is a cursor, saved in every checkpoint, so a resumed run draws the same prompts.
 */
import { Rng } from '../../lib/random';

export interface TrainingPrompt {
  id: string;
  prompt: string;
  category: string;
}

export class PromptSampler {
  constructor(
    private readonly prompts: readonly TrainingPrompt[],
    private readonly seed: number,
    /** Prompts drawn so far. */
    public cursor = 0,
    /** Stream label, so each stage draws its own order. */
    private readonly label = '',
  ) {
    if (prompts.length === 0) throw new Error('prompt sampler: no training prompts');
  }

  private orderOfPass(pass: number): number[] {
    const rng = Rng.fromSeed(this.seed, 'prompt-order', this.label, pass);
    const order = this.prompts.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    return order;
  }

  /** The next `n` prompts. */
  next(n: number): TrainingPrompt[] {
    const out: TrainingPrompt[] = [];
    let cachedPass = -1;
    let order: number[] = [];
    for (let k = 0; k < n; k++) {
      const pass = Math.floor(this.cursor / this.prompts.length);
      if (pass !== cachedPass) {
        order = this.orderOfPass(pass);
        cachedPass = pass;
      }
      out.push(this.prompts[order[this.cursor % this.prompts.length] as number] as TrainingPrompt);
      this.cursor += 1;
    }
    return out;
  }
}
