/**
 * Loads the realgen-mini models a run config names: generator, tokenizer, and detectors (reward and held-out),
 * with paths resolved against the config file's folder.
 */
import path from 'node:path';
import type { LoadedConfig } from '../../configs/load';
import { OnnxDetector, type OnnxDetectorOptions } from '../detectors/onnx-detector';
import type { SessionTuning } from '../onnx/session-options';
import { MiniGenerator } from './generator';
import type { Tokenizer } from '../../domain/mini/tokenizer';
import { loadTokenizer } from './tokenizer-file';

/** Resolves a config-relative path. */
export function configPath(loaded: Pick<LoadedConfig, 'baseDir'>, p: string): string {
  return path.resolve(loaded.baseDir, p);
}

/** Generator and tokenizer of the config's `models` section. */
export async function loadGenerator(
  loaded: LoadedConfig,
  tuning: SessionTuning = {},
): Promise<{ generator: MiniGenerator; tokenizer: Tokenizer }> {
  const { models } = loaded.config;
  if (!models.tokenizer) throw new Error(`${loaded.file}: models.tokenizer is required for the realgen-mini generator`);
  const [generator, tokenizer] = await Promise.all([
    MiniGenerator.load(configPath(loaded, models.generator), tuning),
    Promise.resolve(loadTokenizer(configPath(loaded, models.tokenizer))),
  ]);
  if (tokenizer.maxLen !== generator.spec.maxLen) {
    throw new Error(`tokenizer maxLen ${tokenizer.maxLen} does not match the generator's ${generator.spec.maxLen}`);
  }
  return { generator, tokenizer };
}

/** Every evaluation detector of the config (reward and held-out), in config order. */
export async function loadEvaluationDetectors(loaded: LoadedConfig, options: OnnxDetectorOptions = {}): Promise<OnnxDetector[]> {
  return await Promise.all(
    loaded.config.evaluation.detectors.map((d) => OnnxDetector.load(configPath(loaded, d.manifest), options)),
  );
}

/** The reward detectors of the config, never a held-out one (refused with an error naming it). */
export async function loadRewardDetectors(loaded: LoadedConfig, options: OnnxDetectorOptions = {}): Promise<OnnxDetector[]> {
  const detectors = await Promise.all(
    loaded.config.reward.detectors.map((d) => OnnxDetector.load(configPath(loaded, d.manifest), options)),
  );
  for (const d of detectors) {
    if (d.manifest.role === 'heldout')
      throw new Error(`reward.detectors: "${d.name}" is a held-out detector (role heldout); it may only be used in evaluation`);
  }
  return detectors;
}
