/**
 * `realgen run --embedded-workers` with a torch-trainer stage serves the rewards itself: no reward service started by
 * hand, and `reward.service.listen` taken by another process is no obstacle (a free port, handed to the trainer
 * through REALGEN_REWARD_URL). The stage completes with rewards, the service is stopped with the run, and the stage's
 * evaluation draws its images through the torch sampler (the checkpoint's LoRA) up to a report and a leaderboard row.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listKeys } from '../../activities/evaluation/layout';
import { torchVenvPython } from '../../activities/training/torch-launcher';
import { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { testConfigFile, testS3 } from '../helpers/stack';

const bin = path.resolve(__dirname, '..', '..', 'bin', 'realgen');
let squatter: net.Server;
let takenPort: number;

/** Runs the CLI to its end; resolves with its status and output. */
function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe('realgen run --embedded-workers with a torch stage', { timeout: 300_000 }, () => {
  before(async () => {
    const python = torchVenvPython();
    if (!existsSync(python)) throw new Error(`${python} is missing: run bash scripts/install-python.sh first (npm test does)`);
    squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    takenPort = (squatter.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));

  it('serves the rewards itself (a free port when listen is taken); the evaluation runs the torch sampler', async () => {
    const bucket = `rwd-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const config = await testConfigFile({
      bucket,
      mutate: (doc) => {
        const n = (doc.getIn(['stages']) as { items: unknown[] }).items.length;
        for (let i = 0; i < n; i++) doc.setIn(['stages', i, 'enabled'], i === 1);
        doc.setIn(['reward', 'service', 'listen'], `127.0.0.1:${takenPort}`);
        doc.setIn(['reward', 'service', 'maxBatch'], 1);
        doc.setIn(
          ['stages', 1, 'trainer'],
          doc.createNode({ backend: 'torch', family: 'mini', threads: 1, reward: { retries: 0, timeoutSeconds: 60 } }),
        );
        doc.setIn(
          ['stages', 1, 'grpo'],
          doc.createNode({
            ...{ groupSize: 2, promptsPerEpoch: 1, batchSize: 2, learningRate: 0.001, klBeta: 0.0004, clipRange: 0.001 },
            ...{ klMode: 'velocity-mse', ratioNorm: true, samplingSteps: 2, noiseLevel: 0.9 },
            ...{ sdeWindow: { size: 1, startMin: 0, startMax: 0 }, lora: { rank: 2, alpha: 4 } },
          }),
        );
        doc.setIn(['stages', 1, 'budget'], doc.createNode({ maxSteps: 1, segmentSteps: 1, segmentMinutes: 10 }));
        doc.setIn(['stages', 1, 'saveEvery'], 1);
        doc.setIn(['stages', 1, 'evalEvery'], 1);
      },
    });
    const env: NodeJS.ProcessEnv = { ...process.env, REALGEN_STATE_DIR: mkdtempSync(path.join(os.tmpdir(), 'realgen-rwd-')) };
    for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG', 'REALGEN_REWARD_URL']) delete env[k];
    const runId = `embedded-reward-${process.pid}`;
    const r = await runCli(['run', config, '--embedded-workers', '--no-final-eval', '--run-id', runId], env, 240_000);
    assert.equal(r.status, 0, `${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
    assert.match(
      r.stderr,
      new RegExp(`127\\.0\\.0\\.1:${takenPort} \\(reward\\.service\\.listen\\) is taken; using a free port`),
    );
    const m = /reward service on http:\/\/127\.0\.0\.1:(\d+)/.exec(r.stderr);
    assert.ok(m?.[1] && Number(m[1]) !== takenPort, `served on a free port: ${r.stderr.slice(-2000)}`);
    assert.match(r.stdout, /stage-2 mean reward by step[^\n]*: 1:-?\d+\.\d{3}/, r.stdout);
    // The service went with the run: nothing listens on its port any more.
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(Number(m[1]), '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(true));
    });
    assert.ok(refused, 'the embedded reward service stopped with the run');
    // The stage's evaluation drew its images with the checkpoint's LoRA (the torch sampler keeps used prompts).
    const store = new CheckpointStore({ client: await testS3(), bucket });
    const evals = await listKeys(store, 'evals/');
    assert.equal(evals.filter((k) => k.includes('/used-prompts/')).length, 14, 'every smoke item through the torch sampler');
    assert.ok(
      evals.some((k) => k.endsWith('/report.json')),
      'the evaluation reported',
    );
    assert.equal((await listKeys(store, 'leaderboard/entries/')).length, 1, 'a leaderboard row');
  });
});
