import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MANIFEST_SCHEMA,
  checkpointPrefix,
  padStep,
  parseManifest,
  serializeManifest,
  stepFromPrefix,
  type CheckpointManifest,
} from '../../contracts/checkpoint-manifest';

const sha = 'a'.repeat(64);
const manifest: CheckpointManifest = {
  schema: MANIFEST_SCHEMA,
  runId: 'r1',
  stage: 'stage-2',
  step: 40,
  files: [{ path: 'lora/adapter.bin', size: 3, sha256: sha }],
  configDigest: sha,
  parent: { step: 30, manifestSha256: sha },
  createdAt: '2026-11-27T10:00:00.000Z',
  producer: { name: 'realgen', version: '0.1.0' },
};

describe('checkpoint manifest', () => {
  it('lays checkpoints out with zero-padded steps so listings sort numerically', () => {
    assert.equal(checkpointPrefix('r1', 'stage-2', 40), 'runs/r1/stage-2/checkpoints/000000040/');
    assert.equal(padStep(0), '000000000');
    assert.throws(() => padStep(-1), /not an integer/);
    assert.throws(() => padStep(1.5), /not an integer/);
    assert.equal(stepFromPrefix('runs/r1/s/checkpoints/000000040/', 'runs/r1/s/checkpoints/'), 40);
    assert.equal(stepFromPrefix('runs/r1/s/checkpoints/tmp/', 'runs/r1/s/checkpoints/'), null);
  });

  it('refuses run ids and stages that would escape their prefix', () => {
    assert.throws(() => checkpointPrefix('..', 'stage-1', 1), /run id "\.\." has a "\.\." segment/);
    assert.throws(() => checkpointPrefix('r1', 'a/b', 1), /stage "a\/b" contains "\/"/);
  });

  it('round-trips through its serialised form', () => {
    assert.deepEqual(parseManifest(serializeManifest(manifest)), manifest);
  });

  it('lists every problem of an invalid manifest with its path', () => {
    const bad = { ...manifest, step: -1, files: [{ path: '../x', size: 1, sha256: 'nothex' }], extra: 1 };
    assert.throws(
      () => parseManifest(JSON.stringify(bad)),
      (err: Error) =>
        /step:/.test(err.message) &&
        /files\.0\.path: file path "\.\.\/x"/.test(err.message) &&
        /files\.0\.sha256/.test(err.message) &&
        /extra/.test(err.message),
    );
    assert.throws(() => parseManifest('{not json'), /manifest.json is not JSON/);
    const dup = { ...manifest, files: [manifest.files[0], manifest.files[0]] };
    assert.throws(() => parseManifest(JSON.stringify(dup)), /lists "lora\/adapter.bin" twice/);
  });
});
