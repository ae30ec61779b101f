/** Checkpoint store against the real MinIO of the test stack. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { checkpointPrefix, MANIFEST_FILE } from '../../../contracts/checkpoint-manifest';
import type { CheckpointStore } from '../../../infra/s3/checkpoint-store';
import { freshStore } from '../../helpers/stack';

const digest = 'c'.repeat(64);
const producer = { name: 'test', version: '1' };
let store: CheckpointStore;
let dir: string;

function file(name: string, content: string | Buffer): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

async function commit(runId: string, step: number, content = `weights at ${step}`) {
  return await store.commitCheckpoint({
    runId,
    stage: 'stage-1',
    step,
    files: [
      { path: 'lora/adapter.bin', localPath: file(`a-${runId}-${step}`, content) },
      { path: 'state.json', localPath: file(`s-${runId}-${step}`, JSON.stringify({ step })) },
    ],
    configDigest: digest,
    parent: null,
    producer,
  });
}

describe('checkpoint store (real MinIO)', () => {
  before(async () => {
    store = await freshStore('ckpt');
    dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-ckpt-'));
  });

  it('commits files then the manifest, and resolves the newest checkpoint', async () => {
    await commit('run-a', 10);
    const { ref, manifest } = await commit('run-a', 20);
    assert.equal(ref.prefix, 'runs/run-a/stage-1/checkpoints/000000020/');
    assert.equal(manifest.files.length, 2);
    assert.equal(manifest.files[0]?.size, Buffer.byteLength('weights at 20'));
    const latest = await store.latestValidCheckpoint('run-a', 'stage-1');
    assert.equal(latest.ref?.step, 20);
    assert.equal(latest.ref?.manifestSha256, ref.manifestSha256);
    assert.deepEqual(latest.skipped, []);
    assert.deepEqual(await store.verify(ref.prefix, manifest, 'deep'), { ok: true });
  });

  it('ignores a half-written checkpoint (files without a manifest)', async () => {
    await commit('run-b', 10);
    // A trainer died after uploading the weights of step 20 but before the manifest.
    const prefix = checkpointPrefix('run-b', 'stage-1', 20);
    await store.putFile(`${prefix}lora/adapter.bin`, file('half', 'partial weights'));
    const latest = await store.latestValidCheckpoint('run-b', 'stage-1');
    assert.equal(latest.ref?.step, 10);
    assert.deepEqual(latest.skipped, [{ step: 20, reason: `half-written: no ${MANIFEST_FILE}` }]);
  });

  it('fails deep verification on a corrupted object and falls back to the previous checkpoint', async () => {
    await commit('run-c', 10);
    const { ref, manifest } = await commit('run-c', 20);
    // Same size, different bytes: only a deep verify notices.
    const original = 'weights at 20';
    await store.client.putObject(store.bucket, `${ref.prefix}lora/adapter.bin`, Buffer.from(original.replace('w', 'W')));
    const deep = await store.verify(ref.prefix, manifest, 'deep');
    assert.equal(deep.ok, false);
    assert.match(deep.ok ? '' : deep.reason, /^lora\/adapter\.bin: sha256 [0-9a-f]{64}, manifest says [0-9a-f]{64}$/);
    assert.deepEqual(await store.verify(ref.prefix, manifest, 'shallow'), { ok: true });
    const latest = await store.latestValidCheckpoint('run-c', 'stage-1');
    assert.equal(latest.ref?.step, 10);
    assert.equal(latest.skipped[0]?.step, 20);
    assert.match(latest.skipped[0]?.reason ?? '', /^corrupt: lora\/adapter\.bin: sha256/);
    // The download of the corrupted checkpoint is refused and leaves no partial file behind.
    const dest = mkdtempSync(path.join(os.tmpdir(), 'realgen-dl-'));
    await assert.rejects(
      store.downloadCheckpoint(ref, dest),
      (err: Error & { type?: string }) => err.type === 'CheckpointCorrupt',
    );
    assert.deepEqual(readdirSync(path.join(dest, 'lora')), []);
  });

  it('skips a checkpoint whose object is missing and one whose manifest is unreadable', async () => {
    await commit('run-d', 10);
    const { ref } = await commit('run-d', 20);
    await store.client.removeObject(store.bucket, `${ref.prefix}state.json`);
    const r30 = checkpointPrefix('run-d', 'stage-1', 30);
    await store.client.putObject(store.bucket, `${r30}${MANIFEST_FILE}`, Buffer.from('{"schema": "nope"}'));
    const latest = await store.latestValidCheckpoint('run-d', 'stage-1');
    assert.equal(latest.ref?.step, 10);
    assert.match(latest.skipped[0]?.reason ?? '', /^unreadable manifest: manifest.json is invalid/);
    assert.equal(latest.skipped[1]?.reason, 'corrupt: state.json: object missing');
  });

  it('downloads a checkpoint and verifies every file', async () => {
    const { ref } = await commit('run-e', 5, 'payload five');
    const dest = mkdtempSync(path.join(os.tmpdir(), 'realgen-dl-'));
    const manifest = await store.downloadCheckpoint(ref, dest);
    assert.equal(readFileSync(path.join(dest, 'lora', 'adapter.bin'), 'utf8'), 'payload five');
    assert.equal(manifest.step, 5);
  });

  it('is idempotent for a retried commit and refuses a different checkpoint at the same step', async () => {
    const first = await commit('run-f', 10, 'same');
    const again = await commit('run-f', 10, 'same');
    assert.equal(again.ref.manifestSha256, first.ref.manifestSha256);
    await assert.rejects(
      commit('run-f', 10, 'different'),
      (err: Error & { type?: string; nonRetryable?: boolean }) => err.type === 'CheckpointConflict' && err.nonRetryable === true,
    );
  });

  it('refuses bad keys with a clear error before anything is written', async () => {
    await assert.rejects(
      store.commitCheckpoint({
        runId: 'run-g',
        stage: 'stage-1',
        step: 1,
        files: [{ path: '../escape.bin', localPath: file('x', 'x') }],
        configDigest: digest,
        parent: null,
        producer,
      }),
      (err: Error & { type?: string }) => err.type === 'InvalidObjectKey' && /"\.\." segment/.test(err.message),
    );
    await assert.rejects(
      store.commitCheckpoint({
        runId: '../other',
        stage: 'stage-1',
        step: 1,
        files: [{ path: 'a', localPath: file('y', 'y') }],
        configDigest: digest,
        parent: null,
        producer,
      }),
      /run id "\.\.\/other" contains "\/"/,
    );
    await assert.rejects(store.putFile('/abs/key', file('z', 'z')), /is absolute/);
    await assert.rejects(store.putFile('runs/a\u0007b', file('z', 'z')), /control character/);
    assert.deepEqual(await store.listCheckpointSteps('run-g', 'stage-1'), []);
  });

  it('reports an unreadable local file as ConfigInvalid naming the file', async () => {
    await assert.rejects(store.putFile('runs/x/file', path.join(dir, 'does-not-exist')), /does-not-exist cannot be read/);
  });
});
