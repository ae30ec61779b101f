/**
 * generateShard for checkpoints the torch trainer wrote, against the real MinIO and the real Python sampler: a
 * diffusion LoRA changes the images (an identity LoRA gives the base generator's, so rows pair by seed and id), an
 * `lm-lora/` makes `usedPrompt` the LM's greedy rewrite, none of these images enter the base-image cache, a missing
 * venv is ConfigInvalid, and a cancelled shard ends the sampler.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { evaluationGpuActivities } from '../../../activities/evaluation';
import { getBytes, getJson, listKeys, shardKeys } from '../../../activities/evaluation/layout';
import type { GeneratedShard } from '../../../activities/evaluation/shard-records';
import { GpuPool } from '../../../activities/training/gpu-pool';
import { TORCH_PACKAGE_DIR, torchVenvPython } from '../../../activities/training/torch-launcher';
import { loadConfig } from '../../../configs/load';
import type { CheckpointRef } from '../../../contracts/checkpoint-manifest';
import type { EvalSource, ShardInput } from '../../../contracts/evaluation';
import { decodeToRgb } from '../../../infra/image/decode';
import type { CheckpointStore } from '../../../infra/s3/checkpoint-store';
import { storeOneShardPlan } from '../../helpers/one-shard-plan';
import { freshStore } from '../../helpers/stack';

const repo = path.resolve(__dirname, '..', '..', '..');
const loaded = loadConfig(path.join(repo, 'configs', 'mini-torch.yaml'));
const FIXTURES = path.join(TORCH_PACKAGE_DIR, 'tests', 'eval_checkpoints.py');
/** Three training prompts (real captions: the LM was trained on their style). */
const ITEMS = [
  { id: '00001', category: 'animals', prompt: 'Two dark-furred baboons sit in shadow, one grooming the other.' },
  { id: '00002', category: 'animals', prompt: 'A detailed profile of a great white pelican with delicate pink feathers.' },
  { id: '00003', category: 'people', prompt: 'An old fisherman mending a net on a wooden pier at dawn.' },
];
let store: CheckpointStore;
let work: string;
let calls = 0;
/** The stage-1 `trainer.lm` of the fixtures (eval_checkpoints.py LM_CONFIG: the committed demo LM). */
let lmConfig: Record<string, unknown>;
const refs: Record<'lora' | 'identity' | 'lm', CheckpointRef | null> = { lora: null, identity: null, lm: null };

function python(args: string[]): string {
  return execFileSync(torchVenvPython(), [FIXTURES, ...args], {
    env: { ...process.env, PYTHONPATH: TORCH_PACKAGE_DIR, OMP_NUM_THREADS: '1' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function filesOf(dir: string, sub = ''): { path: string; localPath: string }[] {
  return readdirSync(path.join(dir, sub)).flatMap((name) => {
    const rel = sub === '' ? name : `${sub}/${name}`;
    return statSync(path.join(dir, rel)).isDirectory() ? filesOf(dir, rel) : [{ path: rel, localPath: path.join(dir, rel) }];
  });
}

/** Writes a torch checkpoint folder with the Python fixture and commits it to the store. */
async function commitTorchCheckpoint(kind: 'diffusion' | 'lm', scale: number, step: number): Promise<CheckpointRef> {
  const dir = path.join(work, `ck-${kind}-${step}`);
  python([kind, dir, String(scale)]);
  const { ref } = await store.commitCheckpoint({
    runId: 'torch-eval',
    stage: kind === 'lm' ? 'stage-1' : 'stage-2',
    step,
    files: filesOf(dir),
    configDigest: loaded.digest,
    parent: null,
    producer: { name: 'test', version: '1' },
  });
  return ref;
}

/** The evaluation config: mini-torch.yaml, whose stage 1 is the torch prompt optimizer on the committed demo LM. */
function evalConfig() {
  const config = structuredClone(loaded.config);
  (config.stages[0] as { trainer: unknown }).trainer = { backend: 'torch', family: 'mini', threads: 1, lm: lmConfig };
  config.workers.gpu.shutdownGraceSeconds = 1;
  return config;
}

/** Stores a one-shard plan of ITEMS for `evalKey` and returns the shard input. */
const shardInput = (evalKey: string, source: EvalSource, config = evalConfig()): Promise<ShardInput> =>
  storeOneShardPlan(
    store,
    loaded,
    evalKey,
    source,
    config,
    ITEMS.map((it) => ({ ...it, longPrompt: it.prompt })),
  );

const activities = () =>
  evaluationGpuActivities({ store, workDir: path.join(work, 'worker'), onGeneratorCall: (n) => (calls += n) });

/** Generates the shard; returns its generated.json items and each image's pixels. */
async function generate(evalKey: string, ref: CheckpointRef | null) {
  const input = await shardInput(evalKey, { kind: 'mini-checkpoint', ref });
  await new MockActivityEnvironment().run(activities().generateShard, input);
  const keys = shardKeys(input.plan.shardsPrefix, 0);
  const generated = await getJson<GeneratedShard>(store, keys.generated);
  assert.ok(generated, `${evalKey}: generated.json`);
  const pixels = new Map<string, Buffer>();
  for (const it of generated.items) {
    const png = await getBytes(store, it.key);
    assert.ok(png, `${evalKey}: image ${it.key}`);
    pixels.set(it.id, (await decodeToRgb(png, [])).data);
  }
  return { items: generated.items, pixels };
}

function maxAbsDiff(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return m;
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return s / a.length;
}

/** Pids of live processes whose command line mentions `needle` (read from /proc; nothing is signalled). */
function processesWith(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('generateShard for torch-trainer checkpoints (real MinIO, real Python sampler)', { timeout: 300_000 }, () => {
  before(async () => {
    const py = torchVenvPython();
    if (!existsSync(py)) throw new Error(`${py} is missing: run bash scripts/install-python.sh first (npm test does)`);
    store = await freshStore('evaltorch');
    work = mkdtempSync(path.join(os.tmpdir(), 'realgen-evaltorch-'));
    lmConfig = JSON.parse(python(['lm-config', '-'])) as Record<string, unknown>;
    refs.lora = await commitTorchCheckpoint('diffusion', 0.05, 2);
    refs.identity = await commitTorchCheckpoint('diffusion', 0, 4);
    refs.lm = await commitTorchCheckpoint('lm', 0.02, 2);
  });
  it('a LoRA checkpoint differs from the base generator, an identity LoRA equals it, and neither enters the base cache', async () => {
    calls = 0;
    const lora = await generate('torch-lora/smoke', refs.lora);
    const identity = await generate('torch-identity/smoke', refs.identity);
    assert.equal(calls, 6, 'the sampler drew every image of both checkpoints');
    assert.deepEqual(await listKeys(store, 'cache/base-images/'), [], 'no torch image in the base-image cache');
    const base = await generate('torch-base/smoke', null);
    assert.equal((await listKeys(store, 'cache/base-images/')).length, ITEMS.length, 'the base images were drawn and cached');
    for (const it of ITEMS) {
      const b = base.pixels.get(it.id) as Buffer;
      assert.ok(maxAbsDiff(identity.pixels.get(it.id) as Buffer, b) <= 1, `${it.id}: same noise and model as the base generator`);
      assert.ok(meanAbsDiff(lora.pixels.get(it.id) as Buffer, b) > 2, `${it.id}: the LoRA changed the image`);
    }
    assert.deepEqual(
      lora.items.map((it) => it.usedPrompt),
      ITEMS.map((it) => it.prompt),
      'no lm-lora/: the prompts are used as they are',
    );
  });

  it('with lm-lora/, usedPrompt is the LM greedy rewrite (and what was rendered)', async () => {
    const lm = await generate('torch-lm/smoke', refs.lm);
    const dir = path.join(work, 'ck-lm-2');
    const expected = JSON.parse(python(['greedy', dir, ...ITEMS.map((it) => it.prompt)])) as string[];
    assert.deepEqual(
      lm.items.map((it) => it.usedPrompt),
      expected,
    );
    for (const [i, it] of ITEMS.entries()) assert.notEqual(expected[i], it.prompt, `${it.id}: the LM rewrote the prompt`);
    // A retried shard (no generated.json, one image lost) draws only the lost image and keeps every used prompt.
    const input = await shardInput('torch-lm/smoke', { kind: 'mini-checkpoint', ref: refs.lm });
    const keys = shardKeys(input.plan.shardsPrefix, 0);
    await store.client.removeObject(store.bucket, keys.generated);
    await store.client.removeObject(store.bucket, `${keys.images}00002.png`);
    calls = 0;
    const again = await generate('torch-lm/smoke', refs.lm);
    assert.equal(calls, 1, 'only the lost image was drawn again');
    assert.deepEqual(
      again.items.map((it) => it.usedPrompt),
      expected,
    );
    assert.ok(again.pixels.get('00002')?.equals(lm.pixels.get('00002') as Buffer), 'the same image again');
  });

  it('without the torch venv the shard fails with ConfigInvalid naming it', async () => {
    const saved = process.env.REALGEN_TOOLS_DIR;
    const empty = mkdtempSync(path.join(os.tmpdir(), 'realgen-no-venv-'));
    process.env.REALGEN_TOOLS_DIR = empty;
    try {
      const input = await shardInput('torch-novenv/smoke', { kind: 'mini-checkpoint', ref: refs.lora });
      await assert.rejects(
        new MockActivityEnvironment().run(activities().generateShard, input),
        (e: Error & { type?: string }) =>
          e.type === 'ConfigInvalid' && e.message.includes(path.join(empty, 'torch-venv', 'bin', 'python')),
      );
    } finally {
      if (saved === undefined) delete process.env.REALGEN_TOOLS_DIR;
      else process.env.REALGEN_TOOLS_DIR = saved;
    }
  });

  it('cancelling the shard ends the sampler it started and frees its worker slot', async () => {
    const input = await shardInput('torch-cancel/smoke', { kind: 'mini-checkpoint', ref: refs.identity });
    const workDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-evaltorch-cancel-'));
    const env = new MockActivityEnvironment();
    const pool = new GpuPool([], 1, 1); // the worker's one CPU slot, shared with trainers
    const acts = evaluationGpuActivities({ store, workDir, gpuPool: pool });
    const running = env.run(acts.generateShard, input);
    const deadline = Date.now() + 60_000;
    while (processesWith(workDir).length === 0) {
      assert.ok(Date.now() < deadline, 'the sampler started');
      await delay(20);
    }
    env.cancel();
    await assert.rejects(running, CancelledFailure);
    assert.deepEqual(processesWith(workDir), [], 'the sampler is gone');
    const slot = await Promise.race([pool.acquire(), delay(1000).then(() => 'held')]);
    assert.deepEqual(slot, [], 'the slot went back to the pool');
  });
});
