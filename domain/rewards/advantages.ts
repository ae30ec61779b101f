/**
 * The official GRPO advantage rule (spec §2.2, mini-grpo-math §1): each reward key is z-scored inside its prompt
 * group, the z-scores are averaged with the reward weights, and the result is clipped. Standardising per key before
 * combining is what makes the absolute scale of each reward irrelevant (LongCLIP/100 and a P(real) weigh the same).
 */

/** One generated sample: the prompt group it belongs to and its raw reward per key. */
export interface RewardSample {
  /** Prompt id; all samples of one prompt in a step form one group. */
  group: string;
  /** Raw reward per reward key (e.g. `forensic_chat`, `omniaid`, `longclip`); every weighted key must be present. */
  rewards: Record<string, number>;
}

/** How advantages are standardised. */
export interface AdvantageOptions {
  /**
   * Where the std comes from: `'group'` = population std of the sample's prompt group (the flux_fast_guard config),
   * `'global'` = population std over the whole batch (the official `global_std=True`). The mean is always the group's.
   * Default `'group'`.
   */
  std?: 'group' | 'global';
  /** Added to the std before dividing, so near-constant groups do not explode. Finite, ≥ 0. Default 1e-4. */
  eps?: number;
  /** The combined advantage is clipped to ±clip (official `adv_clip_max`). Finite, > 0. Default 5. */
  clip?: number;
}

/** Per-group summary, for logging. */
export interface GroupSummary {
  group: string;
  /** Number of samples in the group. */
  size: number;
  /** Mean of `weightedRaw` over the group's samples. */
  meanWeightedRaw: number;
}

/** Everything the trainer and the step log need from one batch of rewards. */
export interface AdvantageResult {
  /** Combined, clipped advantage per sample, in input order. */
  advantages: number[];
  /** Unclipped z-score per sample for every key with a positive weight (keys in sorted order). */
  z: Record<string, number[]>;
  /** Σ_k w_k r_k / Σ_k w_k per sample: what a person wants to see rise; never used for the update. */
  weightedRaw: number[];
  /** One entry per group, in order of first appearance in the batch. */
  groups: GroupSummary[];
  /**
   * Fraction of groups whose within-group std is exactly 0, averaged over the weighted keys; logged as
   * `zero_std_ratio`. Such groups carry no learning signal for that key. 0 for an empty batch. (Upstream Flow-GRPO's
   * `calculate_zero_std_ratio` appears to look only at the combined raw reward; per key is stricter, since a key can be
   * flat while the combination is not.)
   */
  zeroStdFraction: number;
}

const DEFAULT_EPS = 1e-4;
const DEFAULT_CLIP = 5;

interface Moments {
  mean: number;
  std: number;
}

/**
 * Mean and population std (ddof 0). A constant set gets its value as the mean and std 0 exactly: summing then
 * dividing can be off by an ulp (0.1 + 0.1 + 0.1 ≠ 0.3), which would turn a zero-variance group's z into noise
 * instead of the 0 the rule promises.
 */
function moments(values: readonly number[]): Moments {
  if (values.length === 0) return { mean: 0, std: 0 };
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  if (min === max) return { mean: min, std: 0 };
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(sq / values.length) };
}

function checkedOptions(options: AdvantageOptions): Required<AdvantageOptions> {
  const std = options.std ?? 'group';
  const eps = options.eps ?? DEFAULT_EPS;
  const clip = options.clip ?? DEFAULT_CLIP;
  if (std !== 'group' && std !== 'global') {
    throw new Error(`advantages: options.std must be 'group' or 'global', got ${String(std)}`);
  }
  if (!Number.isFinite(eps) || eps < 0) throw new Error(`advantages: options.eps must be a finite number ≥ 0, got ${eps}`);
  if (!Number.isFinite(clip) || clip <= 0) {
    throw new Error(`advantages: options.clip must be a finite number > 0, got ${clip}`);
  }
  return { std, eps, clip };
}

/**
 * Computes GRPO advantages for one batch.
 *
 * Per key k: z = (r − μ_group) / (σ + eps), σ = population std of the group (or of the batch with `std: 'global'`).
 * Combined: A = clip(Σ_k w_k z_k / Σ_k w_k, ±clip). Keys with weight 0 are ignored entirely (not required, not
 * reported). Throws when a weight is negative or non-finite, when no weight is positive, or when a sample lacks a
 * weighted key or carries a non-finite reward for one.
 */
export function computeAdvantages(
  samples: readonly RewardSample[],
  weights: Readonly<Record<string, number>>,
  options: AdvantageOptions = {},
): AdvantageResult {
  const { std: stdMode, eps, clip } = checkedOptions(options);

  const keys: string[] = [];
  let weightSum = 0;
  for (const key of Object.keys(weights).sort()) {
    const w = weights[key];
    if (w === undefined || !Number.isFinite(w) || w < 0) {
      throw new Error(`advantages: weight for reward "${key}" must be a finite number ≥ 0, got ${String(w)}`);
    }
    if (w === 0) continue;
    keys.push(key);
    weightSum += w;
  }
  if (keys.length === 0) throw new Error('advantages: at least one reward weight must be > 0');

  // Reading every reward once up front, so a bad sample fails before any arithmetic and the loops below are total.
  const rewardsByKey = new Map<string, number[]>(keys.map((k) => [k, new Array<number>(samples.length)]));
  const groupOf: number[] = new Array<number>(samples.length);
  const groupIndex = new Map<string, number>();
  const members: number[][] = [];
  samples.forEach((sample, i) => {
    if (typeof sample.group !== 'string') throw new Error(`advantages: sample ${i}: group must be a string`);
    let g = groupIndex.get(sample.group);
    if (g === undefined) {
      g = members.length;
      groupIndex.set(sample.group, g);
      members.push([]);
    }
    members[g]?.push(i);
    groupOf[i] = g;
    for (const key of keys) {
      if (!Object.prototype.hasOwnProperty.call(sample.rewards, key)) {
        throw new Error(`advantages: sample ${i} (group "${sample.group}"): missing reward "${key}"`);
      }
      const r = sample.rewards[key];
      if (typeof r !== 'number' || !Number.isFinite(r)) {
        throw new Error(
          `advantages: sample ${i} (group "${sample.group}"): reward "${key}" must be a finite number, got ${String(r)}`,
        );
      }
      (rewardsByKey.get(key) as number[])[i] = r;
    }
  });

  const combined = new Array<number>(samples.length).fill(0);
  const weightedRaw = new Array<number>(samples.length).fill(0);
  const z: Record<string, number[]> = {};
  let zeroStdSum = 0;

  for (const key of keys) {
    const w = weights[key] as number;
    const r = rewardsByKey.get(key) as number[];
    const groupMoments = members.map((idx) => moments(idx.map((i) => r[i] as number)));
    const globalStd = stdMode === 'global' ? moments(r).std : 0;
    const zk = new Array<number>(samples.length);
    for (let i = 0; i < samples.length; i++) {
      const m = groupMoments[groupOf[i] as number] as Moments;
      const dev = (r[i] as number) - m.mean;
      const sigma = stdMode === 'global' ? globalStd : m.std;
      // A zero deviation is z = 0 even when eps = 0 and σ = 0, rather than 0/0.
      const zi = dev === 0 ? 0 : dev / (sigma + eps);
      zk[i] = zi;
      combined[i] = (combined[i] as number) + w * zi;
      weightedRaw[i] = (weightedRaw[i] as number) + w * (r[i] as number);
    }
    z[key] = zk;
    if (members.length > 0) zeroStdSum += groupMoments.filter((m) => m.std === 0).length / members.length;
  }

  const advantages = combined.map((a) => Math.min(clip, Math.max(-clip, a / weightSum)));
  for (let i = 0; i < weightedRaw.length; i++) weightedRaw[i] = (weightedRaw[i] as number) / weightSum;

  const groups: GroupSummary[] = [...groupIndex.entries()].map(([group, g]) => {
    const idx = members[g] as number[];
    const total = idx.reduce((s, i) => s + (weightedRaw[i] as number), 0);
    return { group, size: idx.length, meanWeightedRaw: total / idx.length };
  });

  return { advantages, z, weightedRaw, groups, zeroStdFraction: zeroStdSum / keys.length };
}
