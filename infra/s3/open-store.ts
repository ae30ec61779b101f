/**
 * Opening the run's checkpoint store from the CLI. Read paths (`leaderboard`, `report`, reading a checkpoint for
 * `eval`) never create the bucket: with the stack down they say which endpoint they could not reach, and with a
 * missing bucket they say so instead of creating an empty one. Only a command that writes asks for `create`.
 */
import type { LoadedConfig } from '../../configs/load';
import { applyEnvOverrides } from '../../configs/load';
import { CheckpointStore } from './checkpoint-store';
import { createS3Client, resolveS3Credentials } from './s3-client';

/** Error codes that mean "nothing answered at that address". */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN']);

/** The error code of a client error, looking into `cause` and aggregated errors (Node's fetch and net). */
function errorCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: unknown; errors?: unknown[] };
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  if (e?.cause !== undefined) return errorCode(e.cause);
  for (const inner of e?.errors ?? []) {
    const code = errorCode(inner);
    if (code !== undefined) return code;
  }
  return undefined;
}

/**
 * A store on the config's bucket. `create: false` (read paths) checks that the bucket exists without creating it;
 * `create: true` creates it when missing. Either way an unreachable object store is an error naming the endpoint.
 */
export async function openStore(
  loaded: LoadedConfig,
  options: { create: boolean; endpointSource?: string },
): Promise<CheckpointStore> {
  const config = applyEnvOverrides(loaded.config);
  const { endpoint, bucket, region } = config.storage;
  const store = new CheckpointStore({
    client: createS3Client(config.storage, resolveS3Credentials(config, loaded.baseDir)),
    bucket,
    transfer: { partChecksum: config.storage.partChecksum },
  });
  let exists: boolean;
  try {
    exists = await store.client.bucketExists(bucket);
  } catch (err) {
    const code = errorCode(err);
    if (code !== undefined && UNREACHABLE.has(code)) {
      const from = options.endpointSource === undefined ? '' : ` (from ${options.endpointSource})`;
      throw new Error(
        `the object store at ${endpoint}${from} is not reachable (${code}). Start the embedded stack with \`realgen dev up\`, ` +
          'or point REALGEN_S3_ENDPOINT / storage.endpoint at a running server.',
      );
    }
    throw new Error(`the object store at ${endpoint} refused to look up bucket ${bucket}: ${code ?? (err as Error).message}`);
  }
  if (!exists) {
    if (!options.create)
      throw new Error(
        `bucket ${bucket} does not exist at ${endpoint}: nothing has been stored there yet (workers create it when they start)`,
      );
    await store.ensureBucket(region);
  }
  return store;
}
