/**
 * `realgen checkpoint ls|get|export` on the real stack: a committed realgen-mini checkpoint (adapter + policy JSON
 * weights) and a native-trainer one (peft LoRA safetensors) are listed, downloaded with verification (a corrupted
 * object is refused), and exported as safetensors whose tensors equal the checkpoint's weights.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../../configs/load';
import { PromptPolicy } from '../../domain/grpo/prompt-policy';
import { VelocityAdapter } from '../../domain/grpo/velocity-adapter';
import { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { decodeSafetensors, encodeSafetensors, f64Tensor, f64Values } from '../../lib/safetensors';
import { Rng } from '../../lib/random';
import { testConfigFile, testS3 } from '../helpers/stack';

const repo = path.resolve(__dirname, '..', '..');
const bin = path.join(repo, 'bin', 'realgen');
const runId = `ckpt-cli-${process.pid}`;
let config: string;
let store: CheckpointStore;
let adapter: VelocityAdapter;
let miniPrefix: string;
let loraPrefix: string;

function realgen(...args: string[]) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REALGEN_STATE_DIR: mkdtempSync(path.join(os.tmpdir(), 'realgen-ckpt-state-')),
  };
  for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG']) delete env[k];
  return spawnSync(bin, [...args, '-c', config], { encoding: 'utf8', env, timeout: 120_000 });
}

describe('realgen checkpoint ls|get|export (real MinIO)', () => {
  before(async () => {
    config = await testConfigFile();
    const cfg = loadConfig(config).config;
    store = new CheckpointStore({ client: await testS3(), bucket: cfg.storage.bucket });
    await store.ensureBucket();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-ckpt-files-'));
    const descriptors = JSON.parse(readFileSync(path.join(repo, 'models', 'realgen-mini', 'descriptors.json'), 'utf8')) as {
      slots: Record<string, string[]>;
    };
    const policy = PromptPolicy.create(descriptors, { init: 'uniform', rng: Rng.fromSeed(1, 'policy'), scale: 1 });
    adapter = VelocityAdapter.create({ D: 12 });
    const rng = Rng.fromSeed(2, 'adapter');
    for (let i = 0; i < adapter.params.length; i++) adapter.params[i] = rng.normal();
    writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ step: 4 }));
    writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(policy.serialize()));
    writeFileSync(path.join(dir, 'adapter.json'), JSON.stringify(adapter.serialize()));
    const commit = (stage: string, step: number, files: Array<{ path: string; localPath: string }>) =>
      store.commitCheckpoint({
        runId,
        stage,
        step,
        files,
        configDigest: 'a'.repeat(64),
        parent: null,
        producer: { name: 'test', version: '1' },
      });
    miniPrefix = (
      await commit(
        'stage-2',
        4,
        ['state.json', 'policy.json', 'adapter.json'].map((f) => ({ path: f, localPath: path.join(dir, f) })),
      )
    ).ref.prefix;
    mkdirSync(path.join(dir, 'lora'));
    writeFileSync(
      path.join(dir, 'lora', 'adapter_model.safetensors'),
      encodeSafetensors({ 'base.lora_A.weight': f64Tensor([1, 2, 3, 4], [2, 2]) }),
    );
    writeFileSync(path.join(dir, 'lora', 'adapter_config.json'), JSON.stringify({ r: 2, peft_type: 'LORA' }));
    loraPrefix = (
      await commit(
        'stage-3',
        8,
        ['lora/adapter_model.safetensors', 'lora/adapter_config.json'].map((f) => ({ path: f, localPath: path.join(dir, f) })),
      )
    ).ref.prefix;
  });

  it('ls lists both checkpoints', () => {
    const r = realgen('checkpoint', 'ls', runId, '--json');
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Array<{ stage: string; step: number; state: string; files: number }>;
    assert.deepEqual(
      rows.map((x) => [x.stage, x.step, x.state, x.files]),
      [
        ['stage-2', 4, 'committed', 3],
        ['stage-3', 8, 'committed', 2],
      ],
    );
  });

  it('get downloads verified files, and refuses a corrupted object', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'realgen-ckpt-get-'));
    const r = realgen('checkpoint', 'get', miniPrefix, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /3 files, \d+ bytes, every sha256 verified/);
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'adapter.json'), 'utf8')), adapter.serialize());
    // Same size, other bytes: the sha256 check refuses it.
    const original = readFileSync(path.join(out, 'state.json'));
    const corrupt = Buffer.from(original);
    corrupt[0] = corrupt[0] === 0x20 ? 0x21 : 0x20;
    await store.client.putObject(store.bucket, `${miniPrefix}state.json`, corrupt);
    try {
      const bad = realgen('checkpoint', 'get', miniPrefix, '--out', mkdtempSync(path.join(os.tmpdir(), 'realgen-ckpt-bad-')));
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /state\.json does not match its manifest/);
    } finally {
      await store.client.putObject(store.bucket, `${miniPrefix}state.json`, original);
    }
  });

  it('export --format safetensors converts the mini adapter and policy', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'realgen-ckpt-export-'));
    const r = realgen('checkpoint', 'export', miniPrefix, '--format', 'safetensors', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const file = path.join(out, `${runId}-stage-2-4.safetensors`);
    assert.ok(r.stdout.includes(file), r.stdout);
    const { tensors, metadata } = decodeSafetensors(readFileSync(file));
    const A = tensors['velocity_adapter.A'];
    assert.ok(A);
    assert.equal(A.shape[0], 12);
    assert.deepEqual([...f64Values(A)], [...adapter.params]);
    assert.ok(tensors['prompt_policy.weights'] && tensors['prompt_policy.reference']);
    assert.equal(JSON.parse(metadata.velocity_adapter ?? '{}').D, 12);
    assert.equal(metadata.checkpoint, miniPrefix);
  });

  it('export copies a native trainer LoRA in the peft layout, and refuses another format', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'realgen-ckpt-export-'));
    const r = realgen('checkpoint', 'export', loraPrefix, '--format', 'safetensors', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const dir = path.join(out, `${runId}-stage-3-8-lora`);
    assert.deepEqual(
      [
        ...f64Values(
          decodeSafetensors(readFileSync(path.join(dir, 'adapter_model.safetensors'))).tensors['base.lora_A.weight'] as never,
        ),
      ],
      [1, 2, 3, 4],
    );
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).peft_type, 'LORA');
    const bad = realgen('checkpoint', 'export', loraPrefix, '--format', 'pt');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--format: expected safetensors, got "pt"/);
  });
});
