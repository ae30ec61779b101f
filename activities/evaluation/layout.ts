/**
 * Where evaluation artifacts live in the bucket, and small S3 helpers for JSON and bytes.
 *
 *   evals/<evalKey>/shards/<evalDigest16>/plan.json
 *   evals/<evalKey>/shards/<evalDigest16>/<shard 4 digits>/images/<id>.png      (mini / command generations)
 *   evals/<evalKey>/shards/<evalDigest16>/<shard>/generated.json                (written last by generateShard)
 *   evals/<evalKey>/shards/<evalDigest16>/<shard>/scores.json                   (scoreShard)
 *   evals/<evalKey>/shards/<evalDigest16>/<shard>/judgements.json               (judgeShard)
 *   evals/<evalKey>/{report.json,report.md,report.html,grid.png,charts/<name>.png}
 *   leaderboard/entries/<safe evalKey>.json
 *   uploads/images/<name>/<folder digest16>/index.json + blobs/sha256/<sha256>.<ext>   (`realgen eval --images`)
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { realgenFailure } from '../../contracts/failures';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { assertObjectKey } from '../../contracts/object-key';
import { LEADERBOARD_ENTRY_SCHEMA, type LeaderboardEntry } from '../../domain/report/report-model';
import { safeEvalName } from '../../contracts/ids';
import { digestOf } from '../../lib/canonical-json';

export const LEADERBOARD_PREFIX = 'leaderboard/entries/';

export function evalPrefix(evalKey: string): string {
  return assertObjectKey(`evals/${evalKey}/`);
}

export function shardsPrefixOf(evalKey: string, evalDigest: string): string {
  return assertObjectKey(`${evalPrefix(evalKey)}shards/${evalDigest.slice(0, 16)}/`);
}

export function shardPrefix(shardsPrefix: string, shard: number): string {
  return `${shardsPrefix}${String(shard).padStart(4, '0')}/`;
}

export const shardKeys = (shardsPrefix: string, shard: number) => {
  const p = shardPrefix(shardsPrefix, shard);
  return {
    images: `${p}images/`,
    /** Per image, the prompt a sampler that rewrites prompts rendered (`<id>.json`), for a retried shard. */
    usedPrompts: `${p}used-prompts/`,
    generated: `${p}generated.json`,
    scores: `${p}scores.json`,
    judgements: `${p}judgements.json`,
  };
};

export function reportKeys(evalKey: string) {
  const p = evalPrefix(evalKey);
  return {
    json: `${p}report.json`,
    md: `${p}report.md`,
    html: `${p}report.html`,
    grid: `${p}grid.png`,
    chart: (name: string) => `${p}charts/${name}.png`,
    leaderboardEntry: `${LEADERBOARD_PREFIX}${safeEvalName(evalKey)}.json`,
  };
}

/** Content-addressed key of an uploaded image. */
export function blobKey(sha256: string, ext: string): string {
  return `blobs/sha256/${sha256}.${ext}`;
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchObject';
}

function storage(action: string, err: unknown): Error {
  return realgenFailure('StorageUnavailable', `${action}: ${(err as Error).message}`);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/**
 * Where a base-generator image is kept for reuse: its key is the sha256 of everything that determines it (generator,
 * tokenizer, prompt as used, category, seed, RealBench id, steps), so a later evaluation that would draw the same
 * image copies it instead (images are deterministic per id and seed, whatever the batch).
 */
export function baseImageCacheKey(identity: {
  generatorDigest: string;
  prompt: string;
  category: string;
  seed: number;
  id: string;
  steps: number | null;
}): string {
  return `cache/base-images/${digestOf({ v: 1, ...identity })}.png`;
}

/** True when `key` exists. */
export async function objectExists(store: CheckpointStore, key: string): Promise<boolean> {
  try {
    await store.client.statObject(store.bucket, key);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw storage(`checking ${key}`, err);
  }
}

/** The object's bytes, or null when it does not exist. */
export async function getBytes(store: CheckpointStore, key: string): Promise<Buffer | null> {
  try {
    return await readAll(await store.client.getObject(store.bucket, key));
  } catch (err) {
    if (isNotFound(err)) return null;
    throw storage(`reading ${key}`, err);
  }
}

/** The object's bytes; a missing object is `what`'s non-retryable failure. */
export async function mustGetBytes(store: CheckpointStore, key: string, what = 'object'): Promise<Buffer> {
  const bytes = await getBytes(store, key);
  if (bytes === null) throw realgenFailure('DatasetMissing', `${what} ${key} does not exist`, { key });
  return bytes;
}

export async function getJson<T>(store: CheckpointStore, key: string): Promise<T | null> {
  const bytes = await getBytes(store, key);
  if (bytes === null) return null;
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw realgenFailure('DatasetMissing', `${key} is not JSON: ${(err as Error).message}`, { key });
  }
}

export async function putBytes(store: CheckpointStore, key: string, bytes: Buffer | string, contentType: string): Promise<void> {
  assertObjectKey(key);
  const body = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  try {
    await store.client.putObject(store.bucket, key, body, body.length, { 'Content-Type': contentType });
  } catch (err) {
    throw storage(`writing ${key}`, err);
  }
}

export async function putJson(store: CheckpointStore, key: string, value: unknown): Promise<void> {
  await putBytes(store, key, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}

/** Every key under `prefix` (recursive). */
export async function listKeys(store: CheckpointStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  try {
    const stream = store.client.listObjectsV2(store.bucket, prefix, true);
    for await (const item of stream as AsyncIterable<{ name?: string }>) if (item.name) keys.push(item.name);
  } catch (err) {
    throw storage(`listing ${prefix}`, err);
  }
  return keys.sort();
}

/** Every leaderboard entry in the bucket (unreadable ones are skipped with a warning). */
export async function listLeaderboardEntries(
  store: CheckpointStore,
  warn: (msg: string) => void = () => undefined,
): Promise<LeaderboardEntry[]> {
  const entries: LeaderboardEntry[] = [];
  for (const key of await listKeys(store, LEADERBOARD_PREFIX)) {
    if (!key.endsWith('.json')) continue;
    try {
      const e = await getJson<LeaderboardEntry>(store, key);
      if (e && e.schema === LEADERBOARD_ENTRY_SCHEMA && Array.isArray(e.outcomes)) entries.push(e);
      else warn(`${key}: not a leaderboard entry; skipped`);
    } catch (err) {
      warn(`${key}: ${(err as Error).message}; skipped`);
    }
  }
  return entries;
}

/** `<s3Prefix>index.json` of an uploaded image folder. */
export interface ImagesIndex {
  schema: 'realgen/images-upload@1';
  name: string;
  /** sha256 over the sorted (id, sha256) list: the folder's identity. */
  digest: string;
  files: Record<string, { key: string; sha256: string; size: number; ext: string }>;
}

export const IMAGES_INDEX = 'index.json';
