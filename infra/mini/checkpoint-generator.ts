/**
 * "Generate with the realgen-mini generator at checkpoint X": the frozen base generator plus whatever the checkpoint
 * trained, applied deterministically.
 *
 * - `policy.json` (stage 1, a serialised PromptPolicy): each prompt is rewritten with the policy's most likely option
 *   per slot (greedy argmax, first option on exact ties), so an evaluation of a checkpoint is reproducible;
 * - `adapter.json` (stage 2, a serialised VelocityAdapter or FilterAdapter): its offset u(prompt, category, σ) is added to the base
 *   velocity at every step of the ODE sampler, computed on the rewritten prompt as in training;
 * - neither file (or no checkpoint at all): the base generator on the unchanged prompt.
 *
 * Initial noise is drawn per image from `Rng.fromSeed(seed, 'realbench-eval', id)`, so an image does not depend on
 * which shard or batch it was generated in.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PromptPolicy, type PromptPolicyJson } from '../../domain/grpo/prompt-policy';
import { deserializeStage2Adapter, type Stage2Adapter } from '../../domain/grpo/stage2-adapter';
import type { RgbImage } from '../image/decode';
import { Rng } from '../../lib/random';
import { sampleFlow, toRgb, type SamplePrompt } from '../../domain/mini/flow-sampler';
import type { MiniGenerator } from './generator';
import type { Tokenizer } from '../../domain/mini/tokenizer';

/** File names inside a realgen-mini training checkpoint. */
export const POLICY_FILE = 'policy.json';
export const ADAPTER_FILE = 'adapter.json';

/** What a checkpoint contributes to generation; both null = the base generator. */
export interface CheckpointParts {
  policy: PromptPolicy | null;
  adapter: Stage2Adapter | null;
}

/** The base generator: no policy, no adapter. */
export const BASE_PARTS: CheckpointParts = Object.freeze({ policy: null, adapter: null });

async function readJsonIfPresent(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`);
  }
}

/** Reads `policy.json` and `adapter.json` from a downloaded checkpoint folder (either may be absent). */
export async function loadCheckpointParts(dir: string): Promise<CheckpointParts> {
  const [policyJson, adapterJson] = await Promise.all([
    readJsonIfPresent(path.join(dir, POLICY_FILE)),
    readJsonIfPresent(path.join(dir, ADAPTER_FILE)),
  ]);
  return {
    policy: policyJson === undefined ? null : PromptPolicy.deserialize(policyJson as PromptPolicyJson),
    adapter: adapterJson === undefined ? null : deserializeStage2Adapter(adapterJson),
  };
}

/** The policy's most likely option per slot for one prompt (ties: the lowest option index). */
export function greedyAction(policy: PromptPolicy, prompt: string, category: string | null | undefined): number[] {
  return policy.probs(policy.features(prompt, category)).map((p) => {
    let best = 0;
    for (let k = 1; k < p.length; k++) if ((p[k] ?? 0) > (p[best] ?? 0)) best = k;
    return best;
  });
}

/** The prompt the generator sees: the greedy policy rewrite, or the prompt itself without a policy. */
export function rewritePrompt(parts: CheckpointParts, prompt: string, category: string | null | undefined): string {
  if (parts.policy === null) return prompt;
  return parts.policy.rewrite(prompt, greedyAction(parts.policy, prompt, category));
}

/** One image to generate. */
export interface GenerationItem {
  /** Stable id (the RealBench id); seeds the image's noise. */
  id: string;
  prompt: string;
  category: string | null;
}

export interface GenerateOptions {
  /** Base seed (the run config's seed). */
  seed: number;
  /** ODE steps. @default the generator's */
  steps?: number;
}

/** One generated image with the prompt the generator actually saw. */
export interface GeneratedImage {
  id: string;
  usedPrompt: string;
  image: RgbImage;
}

/**
 * An Rng stand-in for `sampleFlow` that serves the i-th image's initial noise from the i-th stream. The ODE sampler
 * draws nothing else; a step-noise draw (SDE) is refused.
 */
function perImageNoise(streams: Rng[]): Rng {
  let next = 0;
  const noise = {
    fillNormal(out: Float32Array | Float64Array): void {
      const rng = streams[next++];
      if (rng === undefined) throw new Error(`per-image noise: more than ${streams.length} images drew noise`);
      rng.fillNormal(out);
    },
    normal(): number {
      throw new Error('per-image noise: evaluation sampling is ODE only and draws no step noise');
    },
  };
  return noise as unknown as Rng;
}

/** Generates one image per item in one batch: greedy policy rewrite, adapter offset, deterministic per-id noise. */
export async function generateWithCheckpoint(
  gen: MiniGenerator,
  tokenizer: Tokenizer,
  parts: CheckpointParts,
  items: readonly GenerationItem[],
  options: GenerateOptions,
): Promise<GeneratedImage[]> {
  if (items.length === 0) return [];
  const prompts: SamplePrompt[] = items.map((it) => ({
    text: rewritePrompt(parts, it.prompt, it.category),
    category: it.category,
  }));
  const adapter = parts.adapter;
  if (adapter !== null && adapter.D !== gen.imageElements) {
    throw new Error(`velocity adapter has D = ${adapter.D}, the generator's images have ${gen.imageElements} elements`);
  }
  const result = await sampleFlow(gen, tokenizer, prompts, {
    rng: perImageNoise(items.map((it) => Rng.fromSeed(options.seed, 'realbench-eval', it.id))),
    ...(options.steps !== undefined ? { steps: options.steps } : {}),
    sdeWindow: null,
    velocityOffset: adapter === null ? null : adapter.offsetHook(prompts),
  });
  return items.map((it, i) => ({
    id: it.id,
    usedPrompt: prompts[i]?.text ?? it.prompt,
    image: toRgb(result.images[i] ?? new Float32Array(0), gen.spec.size),
  }));
}
