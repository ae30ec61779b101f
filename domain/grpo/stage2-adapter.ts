/**
 * The two stage-2 adapters behind one name, and reading either back from its checkpoint JSON by `kind`.
 * Checkpoints written before the filter adapter existed hold `kind: "velocity-adapter"` and still read.
 */
import { FilterAdapter, type FilterAdapterJson } from './filter-adapter';
import { VelocityAdapter, type VelocityAdapterJson } from './velocity-adapter';

export type Stage2Adapter = VelocityAdapter | FilterAdapter;

/** Reads a serialised adapter of either kind; the error names the kinds this version reads. */
export function deserializeStage2Adapter(json: unknown): Stage2Adapter {
  const kind = json !== null && typeof json === 'object' ? (json as { kind?: unknown }).kind : undefined;
  if (kind === 'velocity-adapter') return VelocityAdapter.deserialize(json as VelocityAdapterJson);
  if (kind === 'filter-adapter') return FilterAdapter.deserialize(json as FilterAdapterJson);
  throw new Error(
    `adapter.json: unknown adapter kind ${JSON.stringify(kind)}; this version reads "velocity-adapter" (v1) and "filter-adapter" (v1)`,
  );
}
