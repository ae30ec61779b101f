/**
 * Data preparation: RealBench and the training prompt set go into the object store once, addressed by content
 * hash, so every run records exactly which data it trained and was evaluated on.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { RunConfig } from '../configs/schema';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';
import { realgenFailure } from '../contracts/failures';
import { isHeldoutIndex, loadRealBench, REALBENCH_JSONL } from '../infra/realbench/realbench';
import { heartbeat } from './heartbeat';

export interface PrepareDataInput {
  config: RunConfig;
  configBaseDir: string;
}

/** Where the data of a run lives in the bucket. */
export interface PreparedData {
  realbench: { prefix: string; digest: string; items: number };
  /** Training prompts (RealBench's non-held-out short prompts for realgen-mini), one JSON object per line. */
  trainingPrompts: { key: string; sha256: string; count: number };
}

async function exists(store: CheckpointStore, key: string): Promise<boolean> {
  try {
    await store.client.statObject(store.bucket, key);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'NotFound' || code === 'NoSuchKey') return false;
    throw realgenFailure('StorageUnavailable', `checking ${key}: ${(err as Error).message}`);
  }
}

export function createDataActivities(deps: { store: CheckpointStore }) {
  return {
    /** Uploads RealBench (manifest + images) and the training prompt set by content hash; skips what is there. */
    async prepareData(input: PrepareDataInput): Promise<PreparedData> {
      const source = input.config.realbench.source;
      if (source.dir === undefined) {
        // Already in the store: nothing to upload; the evaluation reads it from the prefix.
        const prefix = source.s3Prefix ?? '';
        return { realbench: { prefix, digest: 'external', items: 0 }, trainingPrompts: { key: '', sha256: '', count: 0 } };
      }
      const dir = path.resolve(input.configBaseDir, source.dir);
      const bench = await loadRealBench(dir);
      const prefix = `datasets/realbench/${bench.digest}/`;
      const marker = `${prefix}complete.json`;
      if (!(await exists(deps.store, marker))) {
        await deps.store.putFile(`${prefix}${REALBENCH_JSONL}`, path.join(dir, REALBENCH_JSONL));
        for (const [i, item] of bench.items.entries()) {
          await deps.store.putFile(`${prefix}${item.file}`, path.join(dir, item.file));
          if (i % 50 === 0) heartbeat({ uploaded: i, total: bench.items.length });
        }
        const body = Buffer.from(JSON.stringify({ digest: bench.digest, items: bench.items.length }));
        await deps.store.client.putObject(deps.store.bucket, marker, body, body.length);
      }
      const lines = bench.items
        .filter((it) => !isHeldoutIndex(it.index))
        .map((it) => JSON.stringify({ id: it.id, category: it.category, prompt: it.prompt }))
        .join('\n');
      const bytes = Buffer.from(`${lines}\n`);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const key = `datasets/prompts/${sha256}.jsonl`;
      if (!(await exists(deps.store, key))) await deps.store.client.putObject(deps.store.bucket, key, bytes, bytes.length);
      return {
        realbench: { prefix, digest: bench.digest, items: bench.items.length },
        trainingPrompts: { key, sha256, count: bytes.toString().trim().split('\n').length },
      };
    },
  };
}

export type DataActivities = ReturnType<typeof createDataActivities>;
