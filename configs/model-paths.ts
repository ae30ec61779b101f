/**
 * Where model files may come from. Every model path of a config (generator, tokenizer, descriptors, detector and
 * alignment manifests, the torch trainer's FLUX and LM folders) must lie, after resolving `..` and symlinks, inside
 * an allowed root: the config file's folder, this repository's `models/` folder, or a folder listed in
 * `models.roots`. A config cannot make a worker read `/etc/passwd` as a "manifest".
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { RunConfig } from './schema';

const REPO_MODELS = path.resolve(__dirname, '..', 'models');

/** The allowed roots of a config, absolute. */
export function modelRoots(config: RunConfig, baseDir: string): string[] {
  return [baseDir, REPO_MODELS, ...(config.models.roots ?? []).map((r) => path.resolve(baseDir, r))];
}

function real(p: string): string {
  try {
    return existsSync(p) ? realpathSync(p) : p;
  } catch {
    return p;
  }
}

/** True when `file` (absolute) is inside `root` (absolute), both lexically and after resolving symlinks. */
export function isInside(root: string, file: string): boolean {
  const inside = (r: string, f: string) => {
    const rel = path.relative(r, f);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  };
  return inside(root, file) && inside(real(root), real(file));
}

/** Every model path of `config` that escapes the allowed roots. */
export function modelPathProblems(config: RunConfig, baseDir: string): Array<{ path: string; message: string }> {
  const roots = modelRoots(config, baseDir);
  const fields: Array<[string, string | undefined]> = [
    ['models.generator', config.models.generator],
    ['models.tokenizer', config.models.tokenizer],
    ['models.descriptors', config.models.descriptors],
    ...config.reward.detectors.map((d, i): [string, string] => [`reward.detectors[${i}].manifest`, d.manifest]),
    ['reward.alignment.manifest', config.reward.alignment?.manifest],
    ...config.evaluation.detectors.map((d, i): [string, string] => [`evaluation.detectors[${i}].manifest`, d.manifest]),
    // The torch trainer's model folders: the FLUX weights and the prompt-optimizer LM (stages 1 and 3).
    ...config.stages.flatMap((s, i): Array<[string, string | undefined]> =>
      s.trainer.backend === 'torch'
        ? [
            [`stages[${i}].trainer.pretrained`, s.trainer.pretrained],
            [`stages[${i}].trainer.lm.pretrained`, s.trainer.lm?.pretrained],
          ]
        : [],
    ),
  ];
  const problems: Array<{ path: string; message: string }> = [];
  for (const [field, p] of fields) {
    if (p === undefined) continue;
    const abs = path.resolve(baseDir, p);
    if (!roots.some((r) => isInside(r, abs))) {
      problems.push({
        path: field,
        message: `${abs} is outside the allowed model folders (${roots.join(', ')}); add its folder to models.roots to allow it`,
      });
    }
  }
  return problems;
}
