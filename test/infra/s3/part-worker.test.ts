/** The transfer worker: off-thread sha256 and in-order writes over shared part slots (infra/s3/part-worker.ts). */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PartWorker, WRITE_CHUNK_BYTES } from '../../../infra/s3/part-worker';

describe('part worker', () => {
  it('hashes parts in posting order, whatever order the slots are filled and released in', async () => {
    const parts = [randomBytes(1000), randomBytes(1000), randomBytes(10)];
    const hasher = new PartWorker(1000, 3);
    try {
      const slots = [await hasher.acquire(), await hasher.acquire(), await hasher.acquire()];
      // Filled last to first, as parallel ranged reads may finish; posted in part order.
      for (let i = parts.length - 1; i >= 0; i--) (parts[i] as Buffer).copy(hasher.buffer(slots[i] as number));
      await Promise.all(parts.map((p, i) => hasher.process(slots[i] as number, p.length)));
      assert.equal(await hasher.digest(), createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
    } finally {
      await hasher.close();
    }
  });

  it('hands out at most its slots; a waiter gets the next released slot', async () => {
    const hasher = new PartWorker(16, 2);
    try {
      const a = await hasher.acquire();
      await hasher.acquire();
      let third: number | null = null;
      const waiting = hasher.acquire().then((s) => (third = s));
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal(third, null);
      hasher.release(a);
      assert.equal(await waiting, a);
    } finally {
      await hasher.close();
    }
  });

  it('fails pending and later calls once closed', async () => {
    const hasher = new PartWorker(16, 1);
    await hasher.close();
    await assert.rejects(hasher.acquire(), /closed/);
    await assert.rejects(hasher.digest(), /closed/);
  });

  it('for a download, writes each part at its offset after hashing it, in chunks, across the chunk size', async () => {
    // Parts longer than one write chunk and not a multiple of it, so the chunked copy's tail is exercised.
    const partSize = 2 * WRITE_CHUNK_BYTES + 123;
    const parts = [randomBytes(partSize), randomBytes(partSize), randomBytes(77)];
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'realgen-part-worker-')), 'out.bin');
    const fd = openSync(file, 'w');
    const worker = new PartWorker(partSize, 2);
    try {
      const done: Array<Promise<void>> = [];
      for (const [i, p] of parts.entries()) {
        const slot = await worker.acquire();
        p.copy(worker.buffer(slot));
        done.push(worker.process(slot, p.length, { fd, position: i * partSize }).then(() => worker.release(slot)));
      }
      await Promise.all(done);
      assert.equal(await worker.digest(), createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
    } finally {
      await worker.close();
      closeSync(fd);
    }
    assert.ok(readFileSync(file).equals(Buffer.concat(parts)));
  });

  it('a write that fails rejects that part with the error; the worker stays usable for the caller to close', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'realgen-part-worker-')), 'ro.bin');
    closeSync(openSync(file, 'w'));
    const readOnly = openSync(file, 'r');
    const worker = new PartWorker(16, 1);
    try {
      const slot = await worker.acquire();
      await assert.rejects(worker.process(slot, 16, { fd: readOnly, position: 0 }), /writing a downloaded part: EBADF/);
    } finally {
      await worker.close();
      closeSync(readOnly);
    }
  });
});
