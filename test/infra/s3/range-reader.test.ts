/** Ranged GETs over a raw socket (infra/s3/range-reader.ts), against the real MinIO of the test stack. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { CheckpointStore } from '../../../infra/s3/checkpoint-store';
import { RangeReadError, readRangeInto } from '../../../infra/s3/range-reader';
import { freshStore } from '../../helpers/stack';

let store: CheckpointStore;
const body = randomBytes(3 * 1024 * 1024 + 17);

const url = (key: string) => store.client.presignedGetObject(store.bucket, key, 60);

describe('range reader (real MinIO)', () => {
  before(async () => {
    store = await freshStore('range');
    await store.client.putObject(store.bucket, 'r/body.bin', body);
  });

  it('reads exactly the asked range into the buffer, from the start, the middle and up to the last byte', async () => {
    for (const [offset, length] of [
      [0, 1000],
      [1024 * 1024 + 5, 1024 * 1024],
      [body.length - 17, 17],
    ] as const) {
      const into = Buffer.alloc(length);
      await readRangeInto(await url('r/body.bin'), offset, into, 'r/body.bin');
      assert.ok(into.equals(body.subarray(offset, offset + length)), `range ${offset}+${length}`);
    }
  });

  it('a missing object is a RangeReadError with the S3 code NoSuchKey; the presigned URL is not in the message', async () => {
    await assert.rejects(readRangeInto(await url('r/missing.bin'), 0, Buffer.alloc(10), 'bucket/r/missing.bin'), (err) => {
      assert.ok(err instanceof RangeReadError);
      assert.equal(err.code, 'NoSuchKey');
      assert.equal(err.statusCode, 404);
      assert.match(err.message, /bucket\/r\/missing\.bin \(bytes 0-9\): 404 NoSuchKey/);
      assert.doesNotMatch(err.message, /X-Amz-/);
      return true;
    });
  });

  it('a range past the end of the object fails instead of returning fewer bytes', async () => {
    await assert.rejects(
      readRangeInto(await url('r/body.bin'), body.length - 10, Buffer.alloc(20), 'r/body.bin'),
      /r\/body\.bin \(bytes \d+-\d+\): the server sends 10 bytes, 20 were asked for/,
    );
    await assert.rejects(
      readRangeInto(await url('r/body.bin'), body.length + 5, Buffer.alloc(20), 'r/body.bin'),
      /416 InvalidRange/,
    );
  });

  it('refuses an https URL (the S3 client reads those)', async () => {
    await assert.rejects(readRangeInto('https://example.invalid/b/k', 0, Buffer.alloc(1), 'b/k'), /only http: endpoints/);
  });
});
