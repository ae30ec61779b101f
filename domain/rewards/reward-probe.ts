/**
 * The reward-signal probe (issue 15): before any training, does the Detector Reward point where realism is?
 * Three measurements on base-generator samples, all pure arithmetic on scores the caller collected:
 * - within-group correlation: Pearson r between the combined GRPO advantage (exactly as the trainer computes it) and
 *   the held-out detector's within-group z-score, pooled over all samples — the part of the reward a GRPO update
 *   can actually follow;
 * - the detectors' pairwise correlations across images;
 * - the paired mean change of every detector's P(real) (in points, ×100) under fixed image edits.
 * The gate: within-group r ≥ `minCorrelation` and every reward detector moves the same way as the held-out detector
 * under the sharpen and blur edits.
 */
import { pearson } from '../stats/correlation';
import type { ImageEdit } from '../image/edits';
import { computeAdvantages, type AdvantageOptions } from './advantages';

/** One probe sample: its GRPO group, raw reward per key and the held-out detector's P(real). */
export interface ProbeSample {
  group: string;
  rewards: Record<string, number>;
  heldout: number;
}

/** Per detector, P(real) of the same images before and after one edit (same order). */
export type EditScores = Record<string, { before: number[]; after: number[] }>;

export interface ProbeInput {
  samples: readonly ProbeSample[];
  /** Reward weights (the trainer's), alignment included. */
  weights: Readonly<Record<string, number>>;
  advantage?: AdvantageOptions;
  /** Names of the reward detectors (the gate's subjects; alignment is not a detector). */
  rewardDetectors: readonly string[];
  /** Name of the held-out detector in `detectorScores` and `edits`. */
  heldoutName: string;
  /** Per image, P(real) (or score) by detector name: for the pairwise correlations. */
  detectorScores: ReadonlyArray<Record<string, number>>;
  edits: Partial<Record<ImageEdit, EditScores>>;
  /** @default 0.3 */
  minCorrelation?: number;
}

export interface ProbeReport {
  nSamples: number;
  nGroups: number;
  /** r(combined advantage, held-out within-group z). */
  withinGroupCorrelation: number;
  /** r(z of one reward key, held-out within-group z), per weighted key. */
  keyCorrelations: Record<string, number>;
  /** Pearson r across images for every pair of detectors (and alignment). */
  pairwise: Array<{ a: string; b: string; r: number }>;
  /** Mean paired change of P(real) × 100 per edit and detector. */
  editEffects: Partial<Record<ImageEdit, Record<string, number>>>;
  gate: { passed: boolean; minCorrelation: number; failures: string[] };
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Computes the probe's report and its gate. Throws when the held-out detector is missing from the inputs. */
export function analyseRewardProbe(input: ProbeInput): ProbeReport {
  const { samples, weights } = input;
  const minCorrelation = input.minCorrelation ?? 0.3;
  const opts = input.advantage ?? {};
  const adv = computeAdvantages(
    samples.map((s) => ({ group: s.group, rewards: s.rewards })),
    weights,
    opts,
  );
  // The held-out z uses the same group rule (mean and std of the group, same eps), never clipped.
  const held = computeAdvantages(
    samples.map((s) => ({ group: s.group, rewards: { heldout: s.heldout } })),
    { heldout: 1 },
    { ...opts, clip: 1e9 },
  );
  const heldZ = held.z.heldout ?? [];
  const keyCorrelations: Record<string, number> = {};
  for (const [key, z] of Object.entries(adv.z)) keyCorrelations[key] = pearson(z, heldZ);

  const names = [...new Set(input.detectorScores.flatMap((r) => Object.keys(r)))];
  const pairwise: ProbeReport['pairwise'] = [];
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const a = names[i] as string;
      const b = names[j] as string;
      const rows = input.detectorScores.filter((r) => a in r && b in r);
      pairwise.push({
        a,
        b,
        r: pearson(
          rows.map((r) => r[a] as number),
          rows.map((r) => r[b] as number),
        ),
      });
    }
  }

  const editEffects: ProbeReport['editEffects'] = {};
  for (const [edit, byDetector] of Object.entries(input.edits) as Array<[ImageEdit, EditScores]>) {
    const row: Record<string, number> = {};
    for (const [name, { before, after }] of Object.entries(byDetector)) {
      if (before.length !== after.length)
        throw new Error(`probe: edit ${edit}, detector ${name}: ${before.length} scores before, ${after.length} after`);
      row[name] = 100 * mean(after.map((a, i) => a - (before[i] as number)));
    }
    editEffects[edit] = row;
  }

  const failures: string[] = [];
  const r = pearson(adv.advantages, heldZ);
  if (!(r >= minCorrelation)) failures.push(`within-group correlation ${r.toFixed(3)} < ${minCorrelation}`);
  for (const edit of ['sharpen', 'blur'] as const) {
    const row = editEffects[edit];
    if (!row) {
      failures.push(`edit ${edit} was not measured`);
      continue;
    }
    const h = row[input.heldoutName];
    if (h === undefined) throw new Error(`probe: edit ${edit} has no scores for the held-out detector "${input.heldoutName}"`);
    for (const d of input.rewardDetectors) {
      const v = row[d];
      if (v === undefined) failures.push(`edit ${edit}: reward detector ${d} was not measured`);
      else if (Math.sign(v) !== Math.sign(h)) {
        failures.push(`edit ${edit}: reward detector ${d} moves ${v.toFixed(1)} points, held-out ${h.toFixed(1)}`);
      }
    }
  }
  return {
    nSamples: samples.length,
    nGroups: adv.groups.length,
    withinGroupCorrelation: r,
    keyCorrelations,
    pairwise,
    editEffects,
    gate: { passed: failures.length === 0, minCorrelation, failures },
  };
}
