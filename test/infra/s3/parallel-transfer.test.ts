/** Multipart transfers with parts in flight, against the real MinIO of the test stack. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { CheckpointStore } from '../../../infra/s3/checkpoint-store';
import { downloadFile, uploadFile } from '../../../infra/s3/parallel-transfer';
import { freshStore } from '../../helpers/stack';

const MiB = 1024 * 1024;
// S3's smallest part (except the last): a 12.5 MiB file is three parts, so the multipart path and the short last
// part are both exercised.
const PART = 5 * MiB;
let store: CheckpointStore;
let dir: string;
let big: Buffer;
let bigFile: string;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Neither an object nor a pending multipart upload is left at `key`. */
async function assertNothingLeft(key: string): Promise<void> {
  await assert.rejects(store.client.statObject(store.bucket, key));
  const pending: unknown[] = [];
  for await (const u of store.client.listIncompleteUploads(store.bucket, key, true)) pending.push(u);
  assert.deepEqual(pending, []);
}

describe('parallel transfers (real MinIO)', () => {
  before(async () => {
    const base = await freshStore('xfer');
    store = new CheckpointStore({ client: base.client, bucket: base.bucket, transfer: { partSize: PART, concurrency: 3 } });
    dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-xfer-'));
    big = randomBytes(12 * MiB + 512 * 1024);
    bigFile = path.join(dir, 'big.bin');
    writeFileSync(bigFile, big);
  });

  it('uploads a multi-part file with its sha256 and downloads it back byte for byte', async () => {
    const up = await uploadFile(store.client, store.bucket, 'x/big.bin', bigFile, { partSize: PART, concurrency: 3 });
    assert.deepEqual(up, { size: big.length, sha256: sha(big) });
    const stat = await store.client.statObject(store.bucket, 'x/big.bin');
    assert.equal(stat.size, big.length);
    // The store kept the parts' CRC32s: S3's composite checksum of a 3-part object ends in "-3".
    const head = await store.client.makeRequestAsync({
      method: 'HEAD',
      bucketName: store.bucket,
      objectName: 'x/big.bin',
      headers: { 'x-amz-checksum-mode': 'ENABLED' },
    });
    head.resume();
    assert.match(String(head.headers['x-amz-checksum-crc32']), /^[A-Za-z0-9+/]{6}==-3$/);
    const out = path.join(dir, 'back.bin');
    const down = await downloadFile(store.client, store.bucket, 'x/big.bin', big.length, out, { partSize: PART, concurrency: 3 });
    assert.deepEqual(down, { size: big.length, sha256: sha(big) });
    assert.ok(readFileSync(out).equals(big));
  });

  it('a small file goes up in one PUT; an empty file too', async () => {
    const small = path.join(dir, 'small.bin');
    writeFileSync(small, 'hello');
    assert.deepEqual(await uploadFile(store.client, store.bucket, 'x/small.bin', small, { partSize: PART }), {
      size: 5,
      sha256: sha(Buffer.from('hello')),
    });
    const empty = path.join(dir, 'empty.bin');
    writeFileSync(empty, '');
    assert.deepEqual(await uploadFile(store.client, store.bucket, 'x/empty.bin', empty, { partSize: PART }), {
      size: 0,
      sha256: sha(Buffer.alloc(0)),
    });
  });

  it('a part that fails aborts the multipart upload: no object and no pending upload is left', async () => {
    // The real client, except that part 2 is refused as a server would refuse it (the uploader is what is tested).
    const client = store.client;
    const failing = Object.create(client) as typeof client;
    failing.uploadPart = async (cfg, payload) => {
      if (cfg.partNumber === 2) throw Object.assign(new Error('part 2 refused'), { code: 'InternalError' });
      return await client.uploadPart(cfg, payload);
    };
    await assert.rejects(
      uploadFile(failing, store.bucket, 'x/failed.bin', bigFile, { partSize: PART, concurrency: 2 }),
      /part 2 refused/,
    );
    await assertNothingLeft('x/failed.bin');
  });

  it('a part whose bytes change on the way (after its CRC32 was taken) is refused by the server; the upload is aborted', async () => {
    // The real client sends part 2 with one byte flipped after the uploader computed its checksum, as a bad NIC or a
    // proxy would: the server must refuse it, and nothing may be committed.
    const client = store.client;
    const tampering = Object.create(client) as typeof client;
    tampering.uploadPart = async (cfg, payload) => {
      if (cfg.partNumber !== 2 || !Buffer.isBuffer(payload)) return await client.uploadPart(cfg, payload);
      const altered = Buffer.from(payload);
      altered[100] = (altered[100] as number) ^ 0x01;
      return await client.uploadPart(cfg, altered);
    };
    await assert.rejects(
      uploadFile(tampering, store.bucket, 'x/tampered.bin', bigFile, { partSize: PART, concurrency: 2 }),
      (err: { code?: string }) => err.code === 'XAmzContentChecksumMismatch',
    );
    await assertNothingLeft('x/tampered.bin');
  });

  it('storage.partChecksum: a store that refuses the checksum header fails the commit with a hint; none sends no header', async () => {
    // The real client in front of a store that does not implement S3's additional checksums, as some S3-compatible
    // stores answer (NotImplemented); the checkpoint store is what is tested.
    const client = store.client;
    const noChecksums = Object.create(client) as typeof client;
    const seen: boolean[] = [];
    noChecksums.uploadPart = async (cfg, payload) => {
      const sent = Object.keys(cfg.headers).some((h) => h.toLowerCase() === 'x-amz-checksum-crc32');
      seen.push(sent);
      if (sent)
        throw Object.assign(new Error('A header you provided implies functionality that is not implemented'), {
          code: 'NotImplemented',
        });
      return await client.uploadPart(cfg, payload);
    };
    const commit = (s: CheckpointStore, step: number) =>
      s.commitCheckpoint({
        runId: 'xfer-checksum',
        stage: 'stage-2',
        step,
        files: [{ path: 'weights.bin', localPath: bigFile }],
        configDigest: 'd'.repeat(64),
        parent: null,
        producer: { name: 'test', version: '1' },
      });
    const withCrc = new CheckpointStore({ client: noChecksums, bucket: store.bucket, transfer: { partSize: PART } });
    await assert.rejects(commit(withCrc, 1), (err: Error) => {
      assert.match(err.message, /NotImplemented/);
      assert.match(err.message, /set storage\.partChecksum: none/);
      return true;
    });
    assert.ok(seen.length > 0 && seen.every((sent) => sent));
    seen.length = 0;
    const without = new CheckpointStore({
      client: noChecksums,
      bucket: store.bucket,
      transfer: { partSize: PART, partChecksum: 'none' },
    });
    const { ref } = await commit(without, 2);
    assert.ok(seen.length === 3 && seen.every((sent) => !sent));
    const dest = mkdtempSync(path.join(dir, 'dl-'));
    await without.downloadCheckpoint(ref, dest);
    assert.ok(readFileSync(path.join(dest, 'weights.bin')).equals(big));
  });

  it('commit, deep verify and download of a multi-part checkpoint; extra bytes appended to an object fail both', async () => {
    const { ref, manifest } = await store.commitCheckpoint({
      runId: 'xfer',
      stage: 'stage-2',
      step: 1,
      files: [{ path: 'weights.bin', localPath: bigFile }],
      configDigest: 'd'.repeat(64),
      parent: null,
      producer: { name: 'test', version: '1' },
    });
    assert.equal(manifest.files[0]?.sha256, sha(big));
    assert.deepEqual(await store.verify(ref.prefix, manifest, 'deep'), { ok: true });
    const dest = mkdtempSync(path.join(dir, 'dl-'));
    await store.downloadCheckpoint(ref, dest);
    assert.ok(readFileSync(path.join(dest, 'weights.bin')).equals(big));

    // Same first bytes plus a tail: a ranged read of the manifest's size alone would not notice.
    await store.client.putObject(store.bucket, `${ref.prefix}weights.bin`, Buffer.concat([big, Buffer.from('tail')]));
    const verdict = await store.verify(ref.prefix, manifest, 'deep');
    assert.equal(verdict.ok, false);
    const dest2 = mkdtempSync(path.join(dir, 'dl-'));
    await assert.rejects(store.downloadCheckpoint(ref, dest2), /manifest says|does not match/);
    assert.equal(existsSync(path.join(dest2, 'weights.bin')), false);
    assert.equal(existsSync(path.join(dest2, 'weights.bin.partial')), false);
  });

  it('a corrupted middle part of the same size fails deep verify and download with parts in flight; nothing is left', async () => {
    const { ref, manifest } = await store.commitCheckpoint({
      runId: 'xfer',
      stage: 'stage-2',
      step: 2,
      files: [{ path: 'weights.bin', localPath: bigFile }],
      configDigest: 'd'.repeat(64),
      parent: null,
      producer: { name: 'test', version: '1' },
    });
    // One flipped byte inside part 2 of 3: sizes agree, so only the streamed hash can notice.
    const corrupted = Buffer.from(big);
    corrupted[PART + 1234] = (corrupted[PART + 1234] as number) ^ 0xff;
    await store.client.putObject(store.bucket, `${ref.prefix}weights.bin`, corrupted);
    const verdict = await store.verify(ref.prefix, manifest, 'deep');
    assert.equal(verdict.ok, false);
    assert.match((verdict as { reason: string }).reason, new RegExp(`sha256 ${sha(corrupted)}, manifest says ${sha(big)}`));
    const dest = mkdtempSync(path.join(dir, 'dl-'));
    await assert.rejects(store.downloadCheckpoint(ref, dest), (err: Error & { type?: string }) => {
      assert.equal(err.type, 'CheckpointCorrupt');
      assert.match(err.message, /weights\.bin does not match its manifest/);
      return true;
    });
    assert.deepEqual(readdirSync(dest), []);
  });

  it('a ranged read refused mid-download fails the download with the server error; no partial file is left', async () => {
    const { ref } = await store.commitCheckpoint({
      runId: 'xfer',
      stage: 'stage-2',
      step: 3,
      files: [{ path: 'weights.bin', localPath: bigFile }],
      configDigest: 'd'.repeat(64),
      parent: null,
      producer: { name: 'test', version: '1' },
    });
    // The real client, except that the GET of part 2 goes out with a broken signature: the real server refuses it.
    const client = store.client;
    const failing = Object.create(client) as typeof client;
    let presigned = 0;
    failing.presignedGetObject = async (bucket, key, expires) => {
      const url = await client.presignedGetObject(bucket, key, expires);
      return ++presigned === 2 ? url.replace(/X-Amz-Signature=[0-9a-f]/, 'X-Amz-Signature=x') : url;
    };
    const failingStore = new CheckpointStore({
      client: failing,
      bucket: store.bucket,
      transfer: { partSize: PART, concurrency: 3 },
    });
    const dest = mkdtempSync(path.join(dir, 'dl-'));
    await assert.rejects(failingStore.downloadCheckpoint(ref, dest), (err: Error & { type?: string }) => {
      assert.equal(err.type, 'StorageUnavailable');
      assert.match(err.message, new RegExp(`bytes ${PART}-${2 * PART - 1}\\): 403 SignatureDoesNotMatch`));
      assert.doesNotMatch(err.message, /X-Amz-Signature/);
      return true;
    });
    assert.deepEqual(readdirSync(dest), []);
  });
});
