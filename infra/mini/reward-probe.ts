/**
 * Runs the reward-signal probe (domain/rewards/reward-probe.ts) on the config's models: base-generator GRPO groups
 * built as stage 2 builds them (stage 2's group size, sampling steps, noise level and random SDE window, one window
 * per `promptsPerEpoch` prompts, no adapter, no prompt rewriting), scored by the reward detectors, the alignment term
 * and the held-out detector; then the same images under fixed edits, scored by every detector.
 */
import type { LoadedConfig } from '../../configs/load';
import { applyEdit, IMAGE_EDITS } from '../../domain/image/edits';
import type { RgbImage } from '../../domain/image/rgb-image';
import { sampleFlow, toRgb } from '../../domain/mini/flow-sampler';
import { analyseRewardProbe, type EditScores, type ProbeReport, type ProbeSample } from '../../domain/rewards/reward-probe';
import { Rng } from '../../lib/random';
import { OnnxDetector } from '../detectors/onnx-detector';
import { isHeldoutIndex, loadRealBench } from '../realbench/realbench';
import { AlignmentScorer } from './alignment';
import { configPath, loadGenerator } from './mini-world';

const TUNING = { intraOpThreads: 1, interOpThreads: 1, device: 'cpu' as const };

export interface RewardProbeOptions {
  /** Prompt groups to sample. @default 24 (96 images with groups of 4) */
  groups?: number;
  /** @default 0 */
  seed?: number;
  /** Called after each sampled chunk, with images done and total. */
  progress?: (done: number, total: number) => void;
}

export interface RewardProbeResult extends ProbeReport {
  detectors: Array<{ name: string; role: string }>;
  weights: Record<string, number>;
  settings: { groupSize: number; samplingSteps: number; noiseLevel: number; sdeWindow: unknown; seed: number };
  seconds: number;
}

/** Samples, scores and analyses; releases every model before returning. */
export async function runRewardProbe(loaded: LoadedConfig, options: RewardProbeOptions = {}): Promise<RewardProbeResult> {
  const t0 = Date.now();
  const { config } = loaded;
  const stage2 = config.stages.find((s) => s.stage === 2) ?? config.stages[0];
  if (!stage2) throw new Error(`${loaded.file}: stages: expected a stage to take the GRPO group settings from`);
  const g = stage2.grpo;
  const heldRef = config.evaluation.detectors.find((d) => d.heldout);
  if (!heldRef) throw new Error(`${loaded.file}: evaluation.detectors: the probe needs a held-out detector (heldout: true)`);
  if (!config.realbench.source.dir)
    throw new Error(`${loaded.file}: realbench.source.dir: the probe reads training prompts from it`);
  const nGroups = options.groups ?? 24;
  const seed = options.seed ?? 0;

  const { generator, tokenizer } = await loadGenerator(loaded, TUNING);
  const opened: Array<{ close(): Promise<void> }> = [generator];
  try {
    // Every detector the config names, reward and evaluation, once by name.
    const byName = new Map<string, OnnxDetector>();
    for (const ref of [...config.reward.detectors, ...config.evaluation.detectors]) {
      if (byName.has(ref.name)) continue;
      const d = await OnnxDetector.load(configPath(loaded, ref.manifest), { ...TUNING, maxBatch: 64 });
      opened.push(d);
      byName.set(ref.name, d);
    }
    const alignment = config.reward.alignment
      ? await AlignmentScorer.load(configPath(loaded, config.reward.alignment.manifest), { ...TUNING, maxBatch: 64 })
      : null;
    if (alignment) opened.push(alignment);
    const weights: Record<string, number> = {};
    for (const d of config.reward.detectors) weights[d.name] = d.weight;
    if (config.reward.alignment) weights.alignment = config.reward.alignment.weight;

    const items = (await loadRealBench(configPath(loaded, config.realbench.source.dir))).items.filter(
      (it) => !isHeldoutIndex(it.index),
    );
    const order = Rng.fromSeed(seed, 'reward-probe', 'prompts');
    const idx = items.map((_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = order.int(i + 1);
      [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
    }
    const prompts = idx.slice(0, nGroups).map((i) => items[i]!);

    // --- groups, as stage 2 samples them ---
    const rng = Rng.fromSeed(seed, 'reward-probe', 'sampling');
    const images: RgbImage[] = [];
    const meta: Array<{ group: string; prompt: string; category: string }> = [];
    const chunk = Math.max(1, g.promptsPerEpoch);
    for (let start = 0; start < prompts.length; start += chunk) {
      const batch = prompts
        .slice(start, start + chunk)
        .flatMap((p) => Array.from({ length: g.groupSize }, () => ({ group: p.id, prompt: p.prompt, category: p.category })));
      const w = g.sdeWindow;
      const window = w ? { start: w.startMin + rng.int(w.startMax - w.startMin + 1), size: w.size } : null;
      const r = await sampleFlow(
        generator,
        tokenizer,
        batch.map((b) => ({ text: b.prompt, category: b.category })),
        {
          rng,
          steps: g.samplingSteps,
          noiseLevel: g.noiseLevel,
          sdeWindow: window,
        },
      );
      r.images.forEach((img) => images.push(toRgb(img, generator.spec.size)));
      meta.push(...batch);
      options.progress?.(images.length, prompts.length * g.groupSize);
    }

    const scoreAll = async (imgs: RgbImage[]): Promise<Record<string, number[]>> => {
      const out: Record<string, number[]> = {};
      for (const [name, d] of byName) {
        out[name] = (await d.scoreRgb(imgs)).map((s) => {
          if (!s.ok) throw new Error(`detector ${name} failed on a probe image: ${s.error}`);
          return s.pReal;
        });
      }
      return out;
    };
    const base = await scoreAll(images);
    const align = alignment
      ? (
          await alignment.scoreEach(
            images,
            meta.map((m) => ({ text: m.prompt, category: m.category })),
          )
        ).map((s) => {
          if (!s.ok) throw new Error(`alignment failed on a probe image: ${s.error}`);
          return s.score;
        })
      : null;

    const samples: ProbeSample[] = meta.map((m, i) => {
      const rewards: Record<string, number> = {};
      for (const d of config.reward.detectors) rewards[d.name] = base[d.name]![i]!;
      if (align) rewards.alignment = align[i]!;
      return { group: m.group, rewards, heldout: base[heldRef.name]![i]! };
    });
    const detectorScores = images.map((_, i) => {
      const row: Record<string, number> = {};
      for (const name of byName.keys()) row[name] = base[name]![i]!;
      if (align) row.alignment = align[i]!;
      return row;
    });

    const edits: Partial<Record<(typeof IMAGE_EDITS)[number], EditScores>> = {};
    for (const edit of IMAGE_EDITS) {
      const editRng = Rng.fromSeed(seed, 'reward-probe', 'edit', edit);
      const after = await scoreAll(images.map((img) => applyEdit(img, edit, editRng)));
      const row: EditScores = {};
      for (const name of byName.keys()) row[name] = { before: base[name]!, after: after[name]! };
      edits[edit] = row;
    }

    const report = analyseRewardProbe({
      samples,
      weights,
      advantage: { std: g.advantage.std, eps: g.advantage.eps, clip: g.advantage.clip },
      rewardDetectors: config.reward.detectors.map((d) => d.name),
      heldoutName: heldRef.name,
      detectorScores,
      edits,
    });
    return {
      ...report,
      detectors: [...byName.entries()].map(([name, d]) => ({ name, role: d.manifest.role })),
      weights,
      settings: {
        groupSize: g.groupSize,
        samplingSteps: g.samplingSteps,
        noiseLevel: g.noiseLevel,
        sdeWindow: g.sdeWindow ?? null,
        seed,
      },
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await Promise.all(opened.map((o) => o.close()));
  }
}
