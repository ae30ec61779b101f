/**
 * The RealBench folder an evaluation reads: the config's `realbench.source.dir`, or a local mirror of
 * `realbench.source.s3Prefix` kept under the worker's work dir (files already present with the right size are not
 * downloaded again).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { RunConfig } from '../../configs/schema';
import type { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { realgenFailure } from '../../contracts/failures';
import { sha256Hex } from './layout';

async function sizeOf(file: string): Promise<number | null> {
  try {
    return (await stat(file)).size;
  } catch {
    return null;
  }
}

/** Absolute folder holding realbench.jsonl and images/. */
export async function realBenchDir(
  store: CheckpointStore,
  config: RunConfig,
  baseDir: string,
  workDir: string,
  onFile?: (n: number) => void,
): Promise<string> {
  const source = config.realbench.source;
  if (source.dir !== undefined) return path.resolve(baseDir, source.dir);
  const prefix = (source.s3Prefix ?? '').replace(/^\/+/, '').replace(/\/?$/, '/');
  const dir = path.join(workDir, 'realbench-cache', sha256Hex(`${store.bucket}/${prefix}`).slice(0, 16));
  await mkdir(dir, { recursive: true });
  const objects: Array<{ name: string; size: number }> = [];
  try {
    for await (const item of store.client.listObjectsV2(store.bucket, prefix, true) as AsyncIterable<{
      name?: string;
      size?: number;
    }>) {
      if (item.name) objects.push({ name: item.name, size: item.size ?? -1 });
    }
  } catch (err) {
    throw realgenFailure('StorageUnavailable', `listing RealBench at ${prefix}: ${(err as Error).message}`);
  }
  if (!objects.some((o) => o.name === `${prefix}realbench.jsonl`)) {
    throw realgenFailure('DatasetMissing', `RealBench: no realbench.jsonl under s3://${store.bucket}/${prefix}`);
  }
  let n = 0;
  for (const o of objects) {
    const rel = o.name.slice(prefix.length);
    if (rel === '' || rel.split('/').some((s) => s === '..' || s === '.')) continue;
    const target = path.join(dir, ...rel.split('/'));
    if ((await sizeOf(target)) === o.size) continue;
    await mkdir(path.dirname(target), { recursive: true });
    const partial = `${target}.partial`;
    try {
      await pipeline(await store.client.getObject(store.bucket, o.name), createWriteStream(partial));
    } catch (err) {
      throw realgenFailure('StorageUnavailable', `downloading ${o.name}: ${(err as Error).message}`);
    }
    await rename(partial, target);
    onFile?.(++n);
  }
  return dir;
}
