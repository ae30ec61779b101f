/** Ranged GETs over a raw socket (infra/s3/range-reader.ts), against the real MinIO of the test stack. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
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

  it("a head split over reads, body bytes in the head's last read and a body in small pieces all land in place", async () => {
    // A server that answers in pieces of 7 bytes (the head too), so the reader switches from its scratch buffer to
    // reading into the caller's buffer in the middle of a read, then reads the rest of the body in place.
    const piece = randomBytes(5000);
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        const all = Buffer.concat([
          Buffer.from(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${piece.length}\r\nConnection: close\r\n\r\n`),
          piece,
        ]);
        let at = 0;
        const next = () => {
          if (at >= all.length) return void socket.end();
          socket.write(all.subarray(at, at + 7), next);
          at += 7;
        };
        next();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as net.AddressInfo;
      const into = Buffer.alloc(piece.length);
      await readRangeInto(`http://127.0.0.1:${port}/b/k?X-Amz-Signature=secret`, 100, into, 'b/k');
      assert.ok(into.equals(piece));
    } finally {
      server.close();
    }
  });
});
