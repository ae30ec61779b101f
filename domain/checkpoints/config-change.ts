/**
 * Resuming a stage under a different run config. A checkpoint records the digest of the config it was trained
 * with; a retry or a re-run that resumes it with another config (a learning rate ×10, a new reward weight) would
 * otherwise change the run silently. The change needs the explicit `allowConfigChange: true` in the new config,
 * and is then recorded in the lineage (the next checkpoint's manifest `meta.configChange`).
 */

/** What the resume may do: continue (recording a change or not), or fail naming both digests. */
export type ConfigChangeDecision =
  | { ok: true; change: null }
  | { ok: true; change: { from: string; to: string; parentStep: number } }
  | { ok: false; message: string };

/**
 * Decides whether a segment may resume from a parent checkpoint written with `parentDigest` while running with
 * `digest`. `allowed` is the config's `allowConfigChange`.
 */
export function decideConfigChange(
  parentDigest: string,
  parentStep: number,
  digest: string,
  allowed: boolean,
): ConfigChangeDecision {
  if (parentDigest === digest) return { ok: true, change: null };
  if (allowed) return { ok: true, change: { from: parentDigest, to: digest, parentStep } };
  return {
    ok: false,
    message:
      `the checkpoint at step ${parentStep} was trained with config digest ${parentDigest}, but this run's config digest is ${digest}; ` +
      'resume with the original config, or set allowConfigChange: true in the config to continue with the new one (recorded in the checkpoint lineage)',
  };
}
