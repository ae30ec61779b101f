/** Small views of an `EvalSpec` that several evaluation steps share. */
import path from 'node:path';
import type { LoadedConfig } from '../../configs/load';
import type { EvalSpec } from '../../contracts/evaluation';

/** The spec's config as a loaded config (relative model paths resolve against `configBaseDir`). */
export function loadedOf(spec: EvalSpec): LoadedConfig {
  return {
    config: spec.config,
    baseDir: spec.configBaseDir,
    digest: spec.configDigest,
    file: path.join(spec.configBaseDir, '(run config)'),
  };
}

/** `local:<detector>` or `openai:<model>`: the judge as judgements.json and the report name it. */
export function judgeLabel(spec: EvalSpec): string {
  const j = spec.config.evaluation.judge;
  return j.backend === 'local' ? `local:${j.detector}` : `openai:${j.model}`;
}
