/**
 * generateShard with an external generator command, against the real MinIO: images are uploaded once, and a cancelled
 * shard ends the command's whole process group (SIGTERM, SIGKILL after the grace) even when it ignores SIGTERM.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { evaluationGpuActivities } from '../../../activities/evaluation';
import { listKeys, shardKeys } from '../../../activities/evaluation/layout';
import { loadConfig } from '../../../configs/load';
import type { EvalSource, ShardInput, ShardStepResult } from '../../../contracts/evaluation';
import type { CheckpointStore } from '../../../infra/s3/checkpoint-store';
import { storeOneShardPlan } from '../../helpers/one-shard-plan';
import { freshStore } from '../../helpers/stack';

const repo = path.resolve(__dirname, '..', '..', '..');
const loaded = loadConfig(path.join(repo, 'configs', 'mini.yaml'));
const IDS = ['00001', '00002', '00003'];
let store: CheckpointStore;
let calls = 0;

/** Stores a one-shard plan of IDS for `evalKey` and returns the shard input. */
function shardInput(evalKey: string, source: EvalSource): Promise<ShardInput> {
  const config = structuredClone(loaded.config);
  config.workers.gpu.shutdownGraceSeconds = 1; // grace before SIGKILL: max(1, floor(0.6 × 1)) s
  const items = IDS.map((id) => ({ id, category: 'people', prompt: `prompt ${id}`, longPrompt: `long prompt ${id}` }));
  return storeOneShardPlan(store, loaded, evalKey, source, config, items);
}

function activities() {
  return evaluationGpuActivities({
    store,
    workDir: mkdtempSync(path.join(os.tmpdir(), 'realgen-evalcmd-')),
    onGeneratorCall: (n) => (calls += n),
  });
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('generateShard with an external generator command (real MinIO)', () => {
  before(async () => {
    store = await freshStore('evalcmd');
  });

  it('runs the command with the prompt files, uploads what it wrote, and does not run it again', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-evalcmd-gen-'));
    const script = path.join(dir, 'gen.mjs');
    writeFileSync(
      script,
      [
        "import { readFileSync, writeFileSync } from 'node:fs';",
        'const [jsonl, outDir] = process.argv.slice(2);',
        "for (const line of readFileSync(jsonl, 'utf8').trim().split('\\n')) {",
        '  const { id, prompt } = JSON.parse(line);',
        '  writeFileSync(`${outDir}/${id}.png`, prompt);',
        '}',
      ].join('\n'),
    );
    const input = await shardInput('cmd-ok/smoke', {
      kind: 'command',
      command: process.execPath,
      args: [script, '{promptsJsonl}', '{outDir}'],
    });
    calls = 0;
    const first = (await new MockActivityEnvironment().run(activities().generateShard, input)) as ShardStepResult;
    // The slot-time the step held (GPU-hours accounting) varies; the rest is exact.
    const { gpuSeconds, ...rest } = first;
    assert.ok(typeof gpuSeconds === 'number' && gpuSeconds >= 0, `gpuSeconds ${String(gpuSeconds)}`);
    assert.deepEqual(rest, { shard: 0, key: shardKeys(input.plan.shardsPrefix, 0).generated, skipped: false, images: 3 });
    const images = shardKeys(input.plan.shardsPrefix, 0).images;
    assert.deepEqual(
      await listKeys(store, images),
      IDS.map((id) => `${images}${id}.png`),
    );
    const again = (await new MockActivityEnvironment().run(activities().generateShard, input)) as ShardStepResult;
    assert.equal(again.skipped, true);
    assert.equal(calls, 3, 'the command ran once for the three images');
  });

  it(
    'on cancellation kills the command group with SIGKILL after the grace when it ignores SIGTERM',
    { timeout: 60_000 },
    async () => {
      const pidFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'realgen-evalcmd-pid-')), 'grandchild.pid');
      const script = `trap '' TERM; sleep 300 & echo $! > ${pidFile}; wait`;
      const input = await shardInput('cmd-cancel/smoke', { kind: 'command', command: 'bash', args: ['-c', script] });
      const env = new MockActivityEnvironment();
      const running = env.run(activities().generateShard, input);
      const deadline = Date.now() + 20_000;
      while (!(existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '')) {
        assert.ok(Date.now() < deadline, 'the command started its grandchild');
        await delay(20);
      }
      const grandchild = Number(readFileSync(pidFile, 'utf8'));
      assert.ok(alive(grandchild));
      const t0 = Date.now();
      env.cancel();
      await assert.rejects(running, CancelledFailure);
      assert.ok(Date.now() - t0 >= 1000, 'SIGTERM first, SIGKILL only after the grace');
      assert.equal(alive(grandchild), false, 'the grandchild that ignored SIGTERM is gone');
    },
  );
});
