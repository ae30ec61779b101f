/** `planEvaluation`: the evaluation digest, the shards, and plan.json. */
import { readFile } from 'node:fs/promises';
import type { EvalSpec, EvaluationPlan } from '../../contracts/evaluation';
import { realgenFailure } from '../../contracts/failures';
import { configPath } from '../../infra/mini/mini-world';
import { loadRealBench, selectSuite } from '../../infra/realbench/realbench';
import { digestOf } from '../../lib/canonical-json';
import { loadedOf } from './eval-spec';
import type { EvaluationContext } from './evaluation-context';
import { getJson, putJson, sha256Hex, shardsPrefixOf } from './layout';
import type { StoredPlan } from './shard-records';

async function fileDigest(file: string): Promise<string> {
  try {
    return sha256Hex(await readFile(file));
  } catch (err) {
    throw realgenFailure('ConfigInvalid', `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The identity of what is evaluated, as it enters the evaluation digest. */
async function sourceIdentity(spec: EvalSpec): Promise<Record<string, unknown>> {
  const src = spec.source;
  if (src.kind === 'mini-checkpoint') {
    return {
      kind: src.kind,
      checkpoint: src.ref?.manifestSha256 ?? null,
      generator: await fileDigest(configPath(loadedOf(spec), spec.config.models.generator)),
    };
  }
  if (src.kind === 'images') return { kind: src.kind, s3Prefix: src.s3Prefix };
  return { kind: src.kind, command: src.command, args: src.args };
}

export function createPlanEvaluation({ store, caches }: EvaluationContext) {
  /**
   * Shards the suite (config `realbench.shardSize`) and writes `plan.json`. Idempotent: an existing plan with the
   * same evaluation digest is returned as is.
   */
  return async function planEvaluation(spec: EvalSpec): Promise<EvaluationPlan> {
    const dir = await caches.benchDir(spec);
    const bench = await loadRealBench(dir);
    const items = selectSuite(bench.items, spec.suite);
    if (items.length === 0) throw realgenFailure('DatasetMissing', `RealBench suite ${spec.suite} has no items in ${dir}`);
    const loaded = loadedOf(spec);
    const judge = spec.config.evaluation.judge;
    const evalDigest = digestOf({
      v: 1,
      source: await sourceIdentity(spec),
      suite: spec.suite,
      realbench: bench.digest,
      seed: spec.config.seed,
      shardSize: spec.config.realbench.shardSize,
      detectors: await Promise.all(
        spec.config.evaluation.detectors.map(async (d) => ({
          name: d.name,
          heldout: d.heldout,
          manifest: await fileDigest(configPath(loaded, d.manifest)),
        })),
      ),
      judge:
        judge.backend === 'local'
          ? { backend: 'local', detector: judge.detector }
          : { backend: 'openai', baseUrl: judge.baseUrl, model: judge.model },
    });
    const shardsPrefix = shardsPrefixOf(spec.evalKey, evalDigest);
    const planKey = `${shardsPrefix}plan.json`;
    const size = spec.config.realbench.shardSize;
    const shards = Array.from({ length: Math.ceil(items.length / size) }, (_, i) => ({
      index: i,
      ids: items.slice(i * size, (i + 1) * size).map((it) => it.id),
    }));
    const plan: EvaluationPlan = {
      evalDigest,
      shardsPrefix,
      planKey,
      shards,
      images: items.length,
      realbenchDigest: bench.digest,
    };
    const existing = await getJson<StoredPlan>(store, planKey);
    if (existing !== null && existing.evalDigest === evalDigest) {
      return {
        evalDigest,
        shardsPrefix,
        planKey,
        shards: existing.shards,
        images: existing.images,
        realbenchDigest: existing.realbenchDigest,
      };
    }
    const stored: StoredPlan = {
      ...plan,
      evalKey: spec.evalKey,
      suite: spec.suite,
      items: items.map(({ id, index, file, category, prompt, longPrompt }) => ({
        id,
        index,
        file,
        category,
        prompt,
        longPrompt,
      })),
    };
    await putJson(store, planKey, stored);
    return plan;
  };
}
