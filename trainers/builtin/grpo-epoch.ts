/**
 * One GRPO epoch (= one step of the run) of the built-in realgen-mini trainer, for all three stages:
 * sample prompts → (stage 1/3) rewrite them with the prompt policy → draw a group of images per prompt
 * (stage 2/3 through the velocity adapter, SDE window recorded) → Detector Reward (reward detectors' P(real) +
 * alignment) → official advantages (per-key group z-score, weighted mean, clip) → clipped-surrogate updates with
 * exact gradients (shared/docs/mini-grpo-math.md), one Adam step per micro-batch of `batchSize` samples.
 * Every random draw comes from one Rng in a fixed order; rewards are computed in fixed batches.
 */
import type { StageConfig } from '../../configs/schema';
import type { OnnxDetector } from '../../infra/detectors/onnx-detector';
import type { Adam } from '../../domain/grpo/adam';
import type { PromptPolicy } from '../../domain/grpo/prompt-policy';
import { clippedSurrogate, surrogateStats, type SurrogateTerm } from '../../domain/grpo/surrogate';
import { FilterAdapter } from '../../domain/grpo/filter-adapter';
import type { Stage2Adapter } from '../../domain/grpo/stage2-adapter';
import type { AlignmentScorer } from '../../infra/mini/alignment';
import { sampleFlow, toRgb, type Transition } from '../../domain/mini/flow-sampler';
import type { MiniGenerator } from '../../infra/mini/generator';
import type { Tokenizer } from '../../domain/mini/tokenizer';
import type { Rng } from '../../lib/random';
import { computeAdvantages } from '../../domain/rewards/advantages';
import type { PromptSampler } from './prompt-sampler';

export interface EpochModels {
  generator: MiniGenerator;
  tokenizer: Tokenizer;
  /** Reward detectors with their reward keys. */
  detectors: Array<{ key: string; detector: OnnxDetector }>;
  alignment: { key: string; scorer: AlignmentScorer } | null;
  weights: Record<string, number>;
}

export interface EpochParts {
  policy: PromptPolicy | null;
  policyAdam: Adam | null;
  adapter: Stage2Adapter | null;
  adapterAdam: Adam | null;
}

/** Greedy action: the most likely option of every slot (deterministic rewriting by a frozen policy). */
export function greedyAction(policy: PromptPolicy, features: Float64Array): number[] {
  return policy.probs(features).map((p) => {
    let best = 0;
    for (let i = 1; i < p.length; i++) if ((p[i] ?? 0) > (p[best] ?? 0)) best = i;
    return best;
  });
}

interface Sample {
  group: string;
  prompt: string;
  category: string;
  text: string;
  features: Float64Array | null;
  action: number[] | null;
  oldPolicyLogProb: number;
  transitions: Transition[];
  oldAdapterLogProbs: number[];
}

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

export async function runEpoch(
  stage: number,
  cfg: StageConfig,
  models: EpochModels,
  parts: EpochParts,
  rng: Rng,
  sampler: PromptSampler,
  beat: () => void,
  /** The ablation's control: advantages permuted within each group (what the update does with noise alone). */
  control: { shuffleAdvantages?: boolean } = {},
): Promise<Record<string, number>> {
  const g = cfg.grpo;
  const trainPolicy = (stage === 1 || stage === 3) && parts.policy !== null && parts.policyAdam !== null;
  const trainAdapter = (stage === 2 || stage === 3) && parts.adapter !== null && parts.adapterAdam !== null;
  const prompts = sampler.next(g.promptsPerEpoch);

  // --- prompts (stage 1/3 sample the policy; stage 2 rewrites greedily with the frozen policy) ---
  const samples: Sample[] = [];
  prompts.forEach((p, pi) => {
    for (let k = 0; k < g.groupSize; k++) {
      let text = p.prompt;
      let features: Float64Array | null = null;
      let action: number[] | null = null;
      let oldPolicyLogProb = 0;
      if (parts.policy) {
        features = parts.policy.features(p.prompt, p.category);
        action = trainPolicy ? parts.policy.sample(features, rng) : greedyAction(parts.policy, features);
        oldPolicyLogProb = parts.policy.logProb(features, action);
        text = parts.policy.rewrite(p.prompt, action);
      }
      samples.push({
        group: `${pi}:${p.id}`,
        prompt: p.prompt,
        category: p.category,
        text,
        features,
        action,
        oldPolicyLogProb,
        transitions: [],
        oldAdapterLogProbs: [],
      });
    }
  });

  // --- images ---
  const batch = samples.map((s) => ({ text: s.text, category: s.category }));
  const window =
    trainAdapter && g.sdeWindow
      ? { start: g.sdeWindow.startMin + rng.int(g.sdeWindow.startMax - g.sdeWindow.startMin + 1), size: g.sdeWindow.size }
      : null;
  const sampled = await sampleFlow(models.generator, models.tokenizer, batch, {
    rng,
    steps: g.samplingSteps,
    noiseLevel: g.noiseLevel,
    sdeWindow: window,
    velocityOffset: parts.adapter ? parts.adapter.offsetHook(batch) : null,
    // Common random numbers: one initial noise per prompt group.
    noiseGroups: g.commonNoise ? samples.map((s) => s.group) : null,
  });
  beat();
  const sigmaMax = sampled.sigmas[1] ?? 1;
  samples.forEach((s, i) => {
    s.transitions = sampled.transitions[i] ?? [];
    // ℓ_old under the sampling-time adapter, in float64 as the update computes it (ρ = 1 exactly at first).
    if (trainAdapter && parts.adapter) {
      s.oldAdapterLogProbs = s.transitions.map((t) =>
        parts.adapter!.logProb({ ...t, prompt: s.text, category: s.category }, g.noiseLevel, sigmaMax),
      );
    }
  });

  // --- Detector Reward ---
  const rgb = sampled.images.map((img) => toRgb(img, models.generator.spec.size));
  const rewards: Array<Record<string, number>> = samples.map(() => ({}));
  for (const { key, detector } of models.detectors) {
    const scores = await detector.scoreRgb(rgb);
    scores.forEach((r, i) => {
      if (!r.ok) throw new Error(`reward ${key} failed on a generated image: ${r.error}`);
      rewards[i]![key] = r.pReal;
    });
  }
  if (models.alignment) {
    const scores = await models.alignment.scorer.scoreEach(
      rgb,
      samples.map((s) => ({ text: s.prompt, category: s.category })),
    );
    scores.forEach((r, i) => {
      if (!r.ok) throw new Error(`reward ${models.alignment!.key} failed: ${r.error}`);
      rewards[i]![models.alignment!.key] = r.score;
    });
  }
  beat();
  const adv = computeAdvantages(
    samples.map((s, i) => ({ group: s.group, rewards: rewards[i]! })),
    models.weights,
    { std: g.advantage.std, eps: g.advantage.eps, clip: g.advantage.clip },
  );

  if (control.shuffleAdvantages) {
    const byGroup = new Map<string, number[]>();
    samples.forEach((s, i) => byGroup.set(s.group, [...(byGroup.get(s.group) ?? []), i]));
    for (const idx of byGroup.values()) {
      const vals = idx.map((i) => adv.advantages[i] as number);
      for (let i = vals.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [vals[i], vals[j]] = [vals[j] as number, vals[i] as number];
      }
      idx.forEach((i, k) => (adv.advantages[i] = vals[k] as number));
    }
  }

  // --- updates, one Adam step per micro-batch ---
  const policyTerms: SurrogateTerm[] = [];
  const adapterTerms: SurrogateTerm[] = [];
  let policyKl = 0;
  let adapterKl = 0;
  for (let start = 0; start < samples.length; start += g.batchSize) {
    const mb = samples.slice(start, start + g.batchSize);
    if (trainPolicy && parts.policy && parts.policyAdam) {
      const grad = new Float64Array(parts.policy.size);
      mb.forEach((s, j) => {
        const A = adv.advantages[start + j] ?? 0;
        const lp = parts.policy!.logProb(s.features!, s.action!);
        const term = clippedSurrogate(lp, s.oldPolicyLogProb, A, g.clipRange);
        policyTerms.push(term);
        if (term.coef !== 0) parts.policy!.addGradLogProb(s.features!, s.action!, term.coef / mb.length, grad);
        if (g.klBeta > 0) {
          parts.policy!.addGradKl(s.features!, 'initial', g.klBeta / mb.length, grad);
          policyKl += parts.policy!.kl(s.features!, 'initial') / samples.length;
        }
      });
      parts.policyAdam.step(parts.policy.params, grad, g.learningRate);
    }
    if (trainAdapter && parts.adapter && parts.adapterAdam) {
      const grad = new Float64Array(parts.adapter.size);
      mb.forEach((s, j) => {
        const A = adv.advantages[start + j] ?? 0;
        const T = s.transitions.length;
        s.transitions.forEach((t, k) => {
          const at = { ...t, prompt: s.text, category: s.category };
          const adapter = parts.adapter!;
          if (adapter instanceof FilterAdapter) {
            // ρ and the coefficient first, then the exact gradient of ℓθ scaled by it (one pass over the filters).
            const logProb = adapter.logProb(at, g.noiseLevel, sigmaMax);
            const term = clippedSurrogate(logProb, s.oldAdapterLogProbs[k] ?? logProb, A, g.clipRange);
            adapterTerms.push(term);
            if (term.coef !== 0)
              adapter.logProbAndGrad(at, g.noiseLevel, sigmaMax, { out: grad, scale: term.coef / (mb.length * T) });
            if (g.klBeta > 0) {
              adapterKl +=
                adapter.klAndGrad(at, g.klMode, g.noiseLevel, sigmaMax, { out: grad, scale: g.klBeta / (mb.length * T) }) /
                (samples.length * T);
            }
            return;
          }
          const { logProb, dLdu, psi } = adapter.logProbAndGrad(at, g.noiseLevel, sigmaMax);
          const term = clippedSurrogate(logProb, s.oldAdapterLogProbs[k] ?? logProb, A, g.clipRange);
          adapterTerms.push(term);
          if (term.coef !== 0) adapter.addOuter(dLdu, psi, term.coef / (mb.length * T), grad);
          if (g.klBeta > 0) {
            const kl = adapter.klAndGrad(at, g.klMode, g.noiseLevel, sigmaMax);
            adapterKl += kl.kl / (samples.length * T);
            adapter.addOuter(kl.dKdu, kl.psi, g.klBeta / (mb.length * T), grad);
          }
        });
      });
      parts.adapterAdam.step(parts.adapter.params, grad, g.learningRate);
    }
    beat();
  }

  const metrics: Record<string, number> = {
    reward: mean(adv.weightedRaw),
    zero_std_ratio: adv.zeroStdFraction,
  };
  for (const key of Object.keys(models.weights)) metrics[`reward_${key}`] = mean(rewards.map((r) => r[key] ?? 0));
  if (policyTerms.length > 0) {
    const st = surrogateStats(policyTerms);
    metrics.policy_clipfrac = st.clipfrac;
    metrics.policy_approx_kl = st.approxKl;
    metrics.policy_kl_ref = policyKl;
  }
  if (adapterTerms.length > 0) {
    const st = surrogateStats(adapterTerms);
    metrics.adapter_clipfrac = st.clipfrac;
    metrics.adapter_approx_kl = st.approxKl;
    metrics.adapter_kl_base = adapterKl;
  }
  return metrics;
}
