/**
 * File transfers with several parts in flight. minio-js uploads a stream one part at a time and, over plain HTTP,
 * hashes every part again to sign it; reading, hashing and sending then take turns on one core. Here the file is
 * read and hashed once, in order, while up to `concurrency` parts travel; downloads fetch ranges in parallel and are
 * written and hashed in order. Memory stays bounded by (concurrency + 1) × partSize.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Client } from 'minio';

export interface TransferOptions {
  /** Bytes per part (S3 minimum 5 MiB except the last). */
  partSize: number;
  /** Parts in flight at once. @default 4 */
  concurrency?: number;
}

/** What a finished transfer saw: the byte count and the sha256 of the bytes, in order. */
export interface TransferResult {
  size: number;
  sha256: string;
}

async function readFully(stream: Readable, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let at = 0;
  for await (const chunk of stream) {
    const c = chunk as Buffer;
    if (at + c.length > length) throw new Error(`range returned more than ${length} bytes`);
    c.copy(buf, at);
    at += c.length;
  }
  if (at !== length) throw new Error(`range returned ${at} of ${length} bytes`);
  return buf;
}

/** Runs `task(i)` for i in [0, n) with at most `limit` in flight, starting them in order; the first error wins. */
async function window<T>(
  n: number,
  limit: number,
  task: (i: number) => Promise<T>,
  onInOrder: (i: number, value: T) => Promise<void>,
): Promise<void> {
  const pending = new Map<number, Promise<T>>();
  let next = 0;
  try {
    for (let i = 0; i < n; i++) {
      while (next < n && pending.size < limit) {
        pending.set(next, task(next));
        next++;
      }
      const value = await (pending.get(i) as Promise<T>);
      pending.delete(i);
      await onInOrder(i, value);
    }
  } finally {
    // Let the stragglers settle so no rejection goes unhandled after a failure.
    await Promise.allSettled(pending.values());
  }
}

/**
 * Uploads `localPath` to `bucket/key` and returns its size and sha256. Files up to one part go up in a single PUT;
 * larger ones as a multipart upload that is aborted on failure, so no half-object is left behind. The size is fixed
 * when the file is opened: a file that grows or shrinks meanwhile fails the upload.
 */
export async function uploadFile(
  client: Client,
  bucket: string,
  key: string,
  localPath: string,
  options: TransferOptions,
): Promise<TransferResult> {
  const { partSize } = options;
  const concurrency = options.concurrency ?? 4;
  const fh = await open(localPath, 'r');
  try {
    const size = (await fh.stat()).size;
    const hash = createHash('sha256');
    const readPart = async (i: number): Promise<Buffer> => {
      const length = Math.min(partSize, size - i * partSize);
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, i * partSize);
      if (bytesRead !== length)
        throw new Error(`${localPath} changed during upload (read ${bytesRead} of ${length} bytes at ${i * partSize})`);
      return buf;
    };
    if (size <= partSize) {
      const buf = size === 0 ? Buffer.alloc(0) : await readPart(0);
      hash.update(buf);
      await client.putObject(bucket, key, buf, size);
      return { size, sha256: hash.digest('hex') };
    }
    const parts = Math.ceil(size / partSize);
    const uploadId = await client.initiateNewMultipartUpload(bucket, key, {});
    const etags: Array<{ part: number; etag: string }> = [];
    try {
      // Reads are issued in order and hashed in order; the uploads of earlier parts overlap later reads.
      const uploads: Array<Promise<void>> = [];
      let inFlight = 0;
      let wake: (() => void) | null = null;
      let failure: unknown = null;
      for (let i = 0; i < parts; i++) {
        while (inFlight >= concurrency && failure === null) await new Promise<void>((r) => (wake = r));
        if (failure !== null) break;
        const buf = await readPart(i);
        hash.update(buf);
        inFlight++;
        uploads.push(
          client
            .uploadPart(
              {
                bucketName: bucket,
                objectName: key,
                uploadID: uploadId,
                partNumber: i + 1,
                headers: { 'Content-Length': buf.length },
              },
              buf,
            )
            .then(
              (res) => {
                etags.push({ part: i + 1, etag: res.etag });
              },
              (err: unknown) => {
                failure ??= err;
              },
            )
            .finally(() => {
              inFlight--;
              const w = wake as (() => void) | null;
              wake = null;
              w?.();
            }),
        );
      }
      await Promise.all(uploads);
      if (failure !== null) throw failure;
      etags.sort((a, b) => a.part - b.part);
      await client.completeMultipartUpload(bucket, key, uploadId, etags);
    } catch (err) {
      await client.abortMultipartUpload(bucket, key, uploadId).catch(() => undefined);
      throw err;
    }
    return { size, sha256: hash.digest('hex') };
  } finally {
    await fh.close();
  }
}

/**
 * Reads `bucket/key` (of known `size`) with ranged GETs in parallel, hashing the parts in order and writing them to
 * `localPath` (or nowhere, when null: a deep verification); returns the bytes seen and their sha256. The caller
 * compares them with what it expected.
 */
export async function downloadFile(
  client: Client,
  bucket: string,
  key: string,
  size: number,
  localPath: string | null,
  options: TransferOptions,
): Promise<TransferResult> {
  const { partSize } = options;
  const concurrency = options.concurrency ?? 4;
  const hash = createHash('sha256');
  const fh = localPath === null ? null : await open(localPath, 'w');
  try {
    if (size <= partSize) {
      const buf = await readFully(await client.getObject(bucket, key), size);
      hash.update(buf);
      await fh?.write(buf, 0, buf.length, 0);
      return { size: buf.length, sha256: hash.digest('hex') };
    }
    const parts = Math.ceil(size / partSize);
    let written = 0;
    await window(
      parts,
      concurrency,
      async (i) => {
        const length = Math.min(partSize, size - i * partSize);
        return await readFully(await client.getPartialObject(bucket, key, i * partSize, length), length);
      },
      async (i, buf) => {
        hash.update(buf);
        await fh?.write(buf, 0, buf.length, i * partSize);
        written += buf.length;
      },
    );
    return { size: written, sha256: hash.digest('hex') };
  } finally {
    await fh?.close();
  }
}
