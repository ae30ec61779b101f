/**
 * Scores a batch of images under every reward key: each reward detector's P(real), through its own batching
 * engine (so concurrent requests share batches), plus the text-alignment cosine when the config has one.
 * Per-item problems (a bad image, a missing prompt) become per-key errors on that item; the other items and keys
 * still score. A held-out detector is refused: it exists to catch reward hacking and must never drive training.
 */
import type { LoadedConfig } from '../../configs/load';
import { BatchingEngine, type BatchingEngineOptions, type BatchingStats } from '../detectors/batching-engine';
import { OnnxDetector } from '../detectors/onnx-detector';
import type { DecodeLimits, RgbImage } from '../image/decode';
import { AlignmentScorer, type AlignPrompt } from '../mini/alignment';
import { configPath } from '../mini/mini-world';
import type { SessionTuning } from '../onnx/session-options';

/** The reward key of the alignment term (LongCLIP's role). */
export const ALIGNMENT_KEY = 'alignment';

/** One image to score, with the prompt it was generated from (needed by the alignment term only). */
export interface RewardItem {
  image: Buffer | RgbImage;
  prompt?: AlignPrompt;
}

/** Scores of one item by reward key; `errors` names the keys that could not score it, and why. */
export interface RewardResult {
  scores: Record<string, number>;
  errors?: Record<string, string>;
}

export interface RewardScorerParts {
  /** Reward detectors with their reward keys (config names). */
  detectors: Array<{ key: string; detector: OnnxDetector }>;
  alignment?: AlignmentScorer;
  /** Options of every detector's batching engine. */
  engine?: BatchingEngineOptions;
}

export interface RewardScorerLoadOptions extends SessionTuning, DecodeLimits {
  /** Overrides `reward.service.maxBatch`. */
  maxBatch?: number;
  /** Overrides `reward.service.maxWaitMs`. */
  maxWaitMs?: number;
  /** Decodes in flight per detector engine. @default 2 */
  decodeConcurrency?: number;
}

export class RewardScorer {
  /** Reward keys in response order: detectors in config order, then `alignment` when present. */
  readonly keys: string[];
  readonly alignment: AlignmentScorer | undefined;
  private readonly engines: Array<{ key: string; detector: OnnxDetector; engine: BatchingEngine }>;

  /** Takes ownership of the models: `close()` releases them. Refuses a held-out detector. */
  constructor(parts: RewardScorerParts) {
    const seen = new Set<string>();
    for (const { key, detector } of parts.detectors) {
      if (detector.manifest.role === 'heldout') {
        throw new Error(
          `reward.detectors: "${key}" (${detector.name}) is a held-out detector (role heldout); it may only be used in evaluation`,
        );
      }
      if (seen.has(key) || key === ALIGNMENT_KEY) throw new Error(`reward.detectors: duplicate reward key "${key}"`);
      seen.add(key);
    }
    if (parts.detectors.length === 0 && parts.alignment === undefined)
      throw new Error('reward: expected at least one detector or the alignment term');
    this.engines = parts.detectors.map(({ key, detector }) => ({
      key,
      detector,
      engine: new BatchingEngine(detector, parts.engine),
    }));
    this.alignment = parts.alignment;
    this.keys = [...this.engines.map((e) => e.key), ...(this.alignment ? [ALIGNMENT_KEY] : [])];
  }

  /** Loads the config's reward detectors (never a held-out one) and its alignment term. */
  static async load(loaded: LoadedConfig, options: RewardScorerLoadOptions = {}): Promise<RewardScorer> {
    const { reward } = loaded.config;
    const detectors: Array<{ key: string; detector: OnnxDetector }> = [];
    let alignment: AlignmentScorer | undefined;
    try {
      for (const ref of reward.detectors) {
        detectors.push({ key: ref.name, detector: await OnnxDetector.load(configPath(loaded, ref.manifest), options) });
      }
      if (reward.alignment) alignment = await AlignmentScorer.load(configPath(loaded, reward.alignment.manifest), options);
      return new RewardScorer({
        detectors,
        ...(alignment ? { alignment } : {}),
        engine: {
          maxBatch: options.maxBatch ?? reward.service.maxBatch,
          maxWaitMs: options.maxWaitMs ?? reward.service.maxWaitMs,
          decodeConcurrency: options.decodeConcurrency ?? 2,
        },
      });
    } catch (err) {
      await Promise.all([...detectors.map((d) => d.detector.close()), alignment?.close()]);
      throw err;
    }
  }

  /** The execution provider of every loaded model, by key. */
  providers(): Record<string, 'cuda' | 'cpu'> {
    const out: Record<string, 'cuda' | 'cpu'> = {};
    for (const e of this.engines) out[e.key] = e.detector.provider;
    if (this.alignment) out[ALIGNMENT_KEY] = this.alignment.provider;
    return out;
  }

  /** The loaded detectors: key, manifest name and provider. */
  describe(): Array<{ key: string; model: string; role: string; provider: 'cuda' | 'cpu' }> {
    return [
      ...this.engines.map((e) => ({
        key: e.key,
        model: e.detector.name,
        role: e.detector.manifest.role,
        provider: e.detector.provider,
      })),
      ...(this.alignment
        ? [{ key: ALIGNMENT_KEY, model: this.alignment.name, role: 'alignment', provider: this.alignment.provider }]
        : []),
    ];
  }

  /** Batching counters per detector key. */
  engineStats(): Record<string, BatchingStats> {
    return Object.fromEntries(this.engines.map((e) => [e.key, e.engine.stats()]));
  }

  /**
   * Scores every item under every key, results in item order. Rejects only when a model itself fails (a failed
   * inference is not an item's fault, and the caller should retry the request).
   */
  async score(items: RewardItem[]): Promise<RewardResult[]> {
    // One fairness source per call: the engines interleave this call's images with other calls' round-robin.
    const source = {};
    const results: RewardResult[] = items.map(() => ({ scores: {} }));
    const fail = (i: number, key: string, error: string) => {
      const r = results[i] as RewardResult;
      (r.errors ??= {})[key] = error;
    };
    const detectorRuns = this.engines.map(async ({ key, engine }) => {
      const scored = await Promise.all(
        items.map((item) =>
          Buffer.isBuffer(item.image) ? engine.submit(item.image, source) : engine.submitRgb(item.image, source),
        ),
      );
      scored.forEach((s, i) => {
        if (s.ok) (results[i] as RewardResult).scores[key] = s.pReal;
        else fail(i, key, s.error);
      });
    });
    const alignmentRun = (async () => {
      if (!this.alignment) return;
      const withPrompt = items.map((_, i) => i).filter((i) => items[i]?.prompt !== undefined);
      for (let i = 0; i < items.length; i++)
        if (items[i]?.prompt === undefined) fail(i, ALIGNMENT_KEY, 'no prompt given for this image');
      if (withPrompt.length === 0) return;
      const images = withPrompt.map((i) => (items[i] as RewardItem).image);
      const prompts = withPrompt.map((i) => (items[i] as RewardItem).prompt as AlignPrompt);
      const scored = await this.alignment.scoreEach(images as Buffer[], prompts);
      scored.forEach((s, k) => {
        const i = withPrompt[k] as number;
        if (s.ok) (results[i] as RewardResult).scores[ALIGNMENT_KEY] = s.score;
        else fail(i, ALIGNMENT_KEY, s.error);
      });
    })();
    await Promise.all([...detectorRuns, alignmentRun]);
    return results;
  }

  /** Drains the engines, then releases every session. */
  async close(): Promise<void> {
    await Promise.all(this.engines.map((e) => e.engine.close()));
    await Promise.all([...this.engines.map((e) => e.detector.close()), this.alignment?.close()]);
  }
}
