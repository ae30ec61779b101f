/** `realgen run --dry-run`: the launch lines from the config alone, with no server reachable. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const repo = path.resolve(__dirname, '..', '..');
const bin = path.join(repo, 'bin', 'realgen');

function dryRun(config: string) {
  const t0 = Date.now();
  // Nothing listens on port 1: any attempt to reach Temporal (or S3) would fail or hang.
  const r = spawnSync(bin, ['run', config, '--dry-run', '--run-id', 'paper-dry'], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, REALGEN_TEMPORAL_ADDRESS: '127.0.0.1:1', REALGEN_S3_ENDPOINT: 'http://127.0.0.1:1' },
  });
  return { ...r, seconds: (Date.now() - t0) / 1000 };
}

describe('realgen run --dry-run', () => {
  it("prints the native trainer's stage-2 line of paper-8xh200.yaml with its batch arithmetic", () => {
    const r = dryRun(path.join(repo, 'configs', 'paper-8xh200.yaml'));
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) =>
      l.startsWith('# stage-2 (torch trainer realgen_torch, flux: FLUX from /models/FLUX.1-dev;'),
    );
    assert.ok(at >= 0, r.stdout);
    assert.match(
      lines[at + 1] ?? '',
      /7 rank\(s\) via torch\.distributed\.run; per step 24 prompts × 21 = 504 samples, 72 per rank in micro-batches of 3, 12 micro-batch\(es\) per optimizer step \(252 samples per optimizer step, 2 optimizer step\(s\) per step/,
    );
    const job = '<workDir>/paper-dry/stage-2/segment-<n>-attempt-<k>/job.json';
    assert.equal(
      lines[at + 3],
      `CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 REALGEN_JOB_SPEC=${job} PYTHONPATH=${path.join(repo, 'trainers', 'torch')} PYTHONUNBUFFERED=1 ` +
        `${path.join(process.env.REALGEN_TOOLS_DIR ?? path.join(repo, '.tools'), 'torch-venv', 'bin', 'python')} -m realgen_torch.train --job ${job}`,
    );
  });

  it('prints the prompt-optimizer stage-1 and joint stage-3 lines of paper-8xh200.yaml (one process each)', () => {
    const r = dryRun(path.join(repo, 'configs', 'paper-8xh200.yaml'));
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const python = path.join(process.env.REALGEN_TOOLS_DIR ?? path.join(repo, '.tools'), 'torch-venv', 'bin', 'python');
    const launch = (stage: number) => {
      const job = `<workDir>/paper-dry/stage-${stage}/segment-<n>-attempt-<k>/job.json`;
      return (
        `CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 REALGEN_JOB_SPEC=${job} PYTHONPATH=${path.join(repo, 'trainers', 'torch')} PYTHONUNBUFFERED=1 ` +
        `${python} -m realgen_torch.train --job ${job}`
      );
    };
    const s1 = lines.indexOf(
      '# stage-1 (torch trainer realgen_torch, prompt optimizer: LM from /models/Qwen3-4B-Instruct-2507; ' +
        'frozen flux: FLUX from /models/FLUX.1-dev; 200 steps in segments of 25)',
    );
    assert.ok(s1 >= 0, r.stdout);
    assert.equal(
      lines[s1 + 1],
      '#   1 rank; per step 16 prompts × 8 rewrites = 128, each rendered with 28 ODE steps (one initial noise per prompt) and scored; ' +
        'LM micro-batches of 8 rewrites, LoRA rank 16, 1 optimizer step(s) per step (one per inner epoch)',
    );
    assert.equal(lines[s1 + 3], launch(1));
    const s3 = lines.indexOf(
      '# stage-3 (torch trainer realgen_torch, joint: LM from /models/Qwen3-4B-Instruct-2507 and flux: FLUX from /models/FLUX.1-dev; ' +
        '100 steps in segments of 25)',
    );
    assert.ok(s3 >= 0, r.stdout);
    assert.equal(
      lines[s3 + 1],
      '#   diffusion: 1 rank(s); per step 16 prompts × 8 = 128 samples, 128 per rank in micro-batches of 4, ' +
        '16 micro-batch(es) per optimizer step (64 samples per optimizer step, 2 optimizer step(s) per step per inner epoch)',
    );
    assert.match(lines[s3 + 2] ?? '', /^# {3}LM: the same 128 rewrites; LM micro-batches of 8 rewrites, LoRA rank 16/);
    assert.equal(lines[s3 + 4], launch(3));
    assert.ok(!r.stdout.includes('stage1_grpo_trl.py'));
  });

  it('prints the stage-2 accelerate line of paper-8xh200-upstream.yaml, fresh and resumed, without contacting any server', () => {
    const r = dryRun(path.join(repo, 'configs', 'paper-8xh200-upstream.yaml'));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.seconds < 15, `took ${r.seconds} s`);
    const lines = r.stdout.split('\n');
    const stage2 = lines.filter((l) => l.includes('scripts/train_flux_fast_guard.py'));
    assert.equal(stage2.length, 2, r.stdout);
    const [fresh, resumed] = stage2 as [string, string];
    assert.match(
      fresh,
      /^cd \/opt\/RealGen\/RealGen_v1\/flow_grpo && CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 WANDB_MODE=offline REALGEN_UPSTREAM_CONFIG=config\/grpo\.py accelerate launch --config_file=scripts\/accelerate_configs\/deepspeed_zero2\.yaml --num_processes=7 --main_process_port=<free-port> \S+\/trainers\/external\/upstream\/realgen_metrics\.py scripts\/train_flux_fast_guard\.py --config=\S+\/trainers\/external\/upstream\/realgen_config\.py:flux_fast_guard --config\.save_dir=<workDir>\/paper-dry\/stage-2\/segment-<n>-attempt-<k>\/out\/upstream$/,
    );
    assert.ok(!fresh.includes('lora_path'));
    const resume = '<workDir>/paper-dry/stage-2/segment-<n>-attempt-<k>/resume';
    assert.equal(
      resumed,
      `${fresh.replace(' accelerate launch', ` REALGEN_RESUME_DIR=${resume} accelerate launch`)} --config.train.lora_path=${resume}/lora`,
    );
    assert.ok(lines.some((l) => l.startsWith('# stage-3: disabled')));
    assert.ok(
      lines.some((l) => l.startsWith('# stage-1 (torch trainer realgen_torch, prompt optimizer: LM from /models/Qwen3-4B')),
    );
  });

  it('fails with the placeholder named when a template is wrong', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-dry-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(
      file,
      readFileSync(path.join(repo, 'configs', 'paper-8xh200-upstream.yaml'), 'utf8').replace(
        "--main_process_port={port}\n        - '{adapterDir}",
        "--main_process_port={rdzvPort}\n        - '{adapterDir}",
      ),
    );
    const r = dryRun(file);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /stages\[1\]\.trainer\.args\[3\]: unknown placeholder \{rdzvPort\}/);
  });

  it('prints where each trainer env secret comes from, never its value; an inline secret is refused unprinted', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-dry-secret-'));
    // The upstream-adapter preset: its stage 2 has an env block to put a secret reference into.
    const paper = readFileSync(path.join(repo, 'configs', 'paper-8xh200-upstream.yaml'), 'utf8');
    assert.ok(paper.includes('env: { WANDB_MODE: offline, REALGEN_UPSTREAM_CONFIG: { plain: config/grpo.py } }'));
    const secret = 'hf_dryRunSecretValue0123456789';
    const refFile = path.join(dir, 'ref.yaml');
    writeFileSync(
      refFile,
      paper.replace(
        'env: { WANDB_MODE: offline, REALGEN_UPSTREAM_CONFIG: { plain: config/grpo.py } }',
        'env: { WANDB_MODE: offline, REALGEN_UPSTREAM_CONFIG: { plain: config/grpo.py }, HF_TOKEN: { env: RG_DRY_HF_TOKEN } }',
      ),
    );
    const ok = spawnSync(bin, ['run', refFile, '--dry-run', '--run-id', 'paper-dry'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, RG_DRY_HF_TOKEN: secret },
    });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(
      ok.stdout,
      /WANDB_MODE=offline REALGEN_UPSTREAM_CONFIG=config\/grpo\.py HF_TOKEN=<secret-from-env-RG_DRY_HF_TOKEN> accelerate launch/,
    );
    assert.ok(!ok.stdout.includes(secret) && !ok.stderr.includes(secret));
    const inlineFile = path.join(dir, 'inline.yaml');
    writeFileSync(
      inlineFile,
      paper.replace(
        'env: { WANDB_MODE: offline, REALGEN_UPSTREAM_CONFIG: { plain: config/grpo.py } }',
        `env: { WANDB_MODE: offline, REALGEN_UPSTREAM_CONFIG: { plain: config/grpo.py }, HF_TOKEN: ${secret} }`,
      ),
    );
    const bad = dryRun(inlineFile);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr + bad.stdout, /stages\[1\]\.trainer\.env\.HF_TOKEN: HF_TOKEN may hold a secret/);
    assert.ok(!bad.stdout.includes(secret) && !bad.stderr.includes(secret), bad.stdout + bad.stderr);
  });
});
