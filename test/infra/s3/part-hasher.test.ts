/** The off-thread sha256 over shared part slots (infra/s3/part-hasher.ts). */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { PartHasher } from '../../../infra/s3/part-hasher';

describe('part hasher', () => {
  it('hashes parts in posting order, whatever order the slots are filled and released in', async () => {
    const parts = [randomBytes(1000), randomBytes(1000), randomBytes(10)];
    const hasher = new PartHasher(1000, 3);
    try {
      const slots = [await hasher.acquire(), await hasher.acquire(), await hasher.acquire()];
      // Filled last to first, as parallel ranged reads may finish; posted in part order.
      for (let i = parts.length - 1; i >= 0; i--) (parts[i] as Buffer).copy(hasher.buffer(slots[i] as number));
      await Promise.all(parts.map((p, i) => hasher.hash(slots[i] as number, p.length)));
      assert.equal(await hasher.digest(), createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
    } finally {
      await hasher.close();
    }
  });

  it('hands out at most its slots; a waiter gets the next released slot', async () => {
    const hasher = new PartHasher(16, 2);
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
    const hasher = new PartHasher(16, 1);
    await hasher.close();
    await assert.rejects(hasher.acquire(), /closed/);
    await assert.rejects(hasher.digest(), /closed/);
  });
});
