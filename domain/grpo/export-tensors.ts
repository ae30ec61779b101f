/**
 * The realgen-mini trainable parts as named tensors, for `realgen checkpoint export --format safetensors`: the
 * velocity adapter's matrix A (D × m, float64) and the prompt policy's weights and reference (float64), with their
 * structure (categories, slots, sizes) in string metadata so the file describes itself. Pure.
 */
import type { Tensor } from '../../lib/safetensors';
import { f64Tensor } from '../../lib/safetensors';
import { decodeFloat64 } from './adam';
import { PromptPolicy } from './prompt-policy';
import { VelocityAdapter } from './velocity-adapter';

export interface ExportedTensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** The adapter (`adapter.json`) and/or policy (`policy.json`) of a mini checkpoint as tensors; either may be absent. */
export function miniPartsAsTensors(parts: { adapter?: unknown; policy?: unknown }): ExportedTensors {
  const tensors: Record<string, Tensor> = {};
  const metadata: Record<string, string> = { format: 'realgen-mini' };
  if (parts.adapter !== undefined) {
    const adapter = VelocityAdapter.deserialize(parts.adapter as never);
    const a = adapter.serialize();
    const params = adapter.params;
    tensors['velocity_adapter.A'] = f64Tensor(params, [a.D, params.length / a.D]);
    metadata['velocity_adapter'] = JSON.stringify({
      D: a.D,
      wordBuckets: a.wordBuckets,
      sigmaDegree: a.sigmaDegree,
      categories: a.categories,
    });
  }
  if (parts.policy !== undefined) {
    // Deserialised first, so a malformed policy fails here with its own message.
    const p = PromptPolicy.deserialize(parts.policy as never).serialize();
    tensors['prompt_policy.weights'] = f64Tensor(decodeFloat64(p.weights));
    tensors['prompt_policy.reference'] = f64Tensor(decodeFloat64(p.reference));
    metadata['prompt_policy'] = JSON.stringify({ buckets: p.buckets, categories: p.categories, slots: p.slots });
  }
  if (Object.keys(tensors).length === 0) throw new Error('no adapter.json or policy.json: nothing to export');
  return { tensors, metadata };
}
