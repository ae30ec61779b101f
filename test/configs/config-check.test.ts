import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { loadConfig, parseConfigText } from '../../configs/load';
import { readSecret } from '../../configs/secrets';

const repo = path.resolve(__dirname, '..', '..');
const miniText = readFileSync(path.join(repo, 'configs', 'mini.yaml'), 'utf8');
const realgen = path.join(repo, 'bin', 'realgen');

/** Applies `edit` to the mini preset and returns the problems `config check` would print. */
function problemsAfter(edit: (doc: ReturnType<typeof parseDocument>) => void): string[] {
  const doc = parseDocument(miniText);
  edit(doc);
  const result = parseConfigText(doc.toString());
  assert.equal(result.ok, false, 'the broken variant must be rejected');
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

describe('config check', () => {
  it('accepts both presets and fills the documented defaults', () => {
    const mini = loadConfig(path.join(repo, 'configs', 'mini.yaml'));
    assert.equal(mini.config.stages.length, 3);
    assert.equal(mini.config.stages[0]?.grpo.advantage.clip, 5);
    assert.equal(mini.config.stages[0]?.grpo.advantage.eps, 1e-4);
    assert.equal(mini.config.priority, 3);
    assert.equal(mini.config.costPerGpuHour, undefined);
    assert.equal(mini.config.storage.partChecksum, 'crc32');
    assert.deepEqual(mini.config.notifications, {
      dashboardUrl: 'http://127.0.0.1:8080',
      targets: [],
      maxRetryIntervalSeconds: 300,
      giveUpHours: 72,
      timeoutSeconds: 30,
    });
    const paper = loadConfig(path.join(repo, 'configs', 'paper-8xh200.yaml'));
    const s2 = paper.config.stages[1];
    assert.ok(s2);
    assert.equal(s2.grpo.groupSize, 21);
    assert.equal(s2.grpo.promptsPerEpoch, 24);
    assert.equal(s2.grpo.learningRate, 1e-4);
    assert.deepEqual(s2.grpo.lora, { rank: 64, alpha: 128, init: 'gaussian' });
    assert.equal(s2.grpo.klBeta, 4e-4);
    assert.equal(s2.grpo.clipRange, 2e-6);
    assert.equal(s2.grpo.samplingSteps, 28);
    assert.equal(s2.grpo.noiseLevel, 0.9);
    // Upstream's batch arithmetic: micro-batches of 3, 12 per optimizer step, 2 optimizer steps per epoch on 7 ranks.
    assert.equal(s2.grpo.batchSize, 3);
    assert.equal(s2.grpo.gradientAccumulationSteps, 12);
    assert.deepEqual(s2.grpo.ema, { decay: 0.9, everyOptimizerSteps: 8 });
    assert.equal(s2.trainer.backend, 'torch');
    assert.ok(s2.trainer.backend === 'torch');
    assert.equal(s2.trainer.family, 'flux');
    assert.equal(s2.trainer.numProcesses, 7);
    assert.equal((24 * 21) / s2.trainer.numProcesses / (s2.grpo.batchSize * s2.grpo.gradientAccumulationSteps), 2);
    assert.equal(paper.config.stages[2]?.trainer.backend, 'torch');
    const upstream = loadConfig(path.join(repo, 'configs', 'paper-8xh200-upstream.yaml')).config.stages[1];
    assert.equal(upstream?.trainer.backend, 'external');
    assert.equal(upstream?.grpo.batchSize, 3);
    assert.equal(upstream?.grpo.gradientAccumulationSteps, 12);
    const miniTorch = loadConfig(path.join(repo, 'configs', 'mini-torch.yaml')).config.stages[1];
    assert.ok(miniTorch?.trainer.backend === 'torch');
    // Schema defaults of the torch branch (family-dependent ones are left to the trainer).
    assert.deepEqual(
      {
        ...miniTorch.trainer,
        numProcesses: undefined,
        reward: { ...miniTorch.trainer.reward, timeoutSeconds: undefined, retries: undefined },
      },
      {
        backend: 'torch',
        family: 'mini',
        tiny: false,
        numProcesses: undefined,
        precision: 'auto',
        threads: 1,
        deterministic: true,
        maxSequenceLength: 512,
        promptField: 'prompt',
        distTimeoutSeconds: 1800,
        reward: { tokenEnv: 'REALGEN_REWARD_TOKEN', timeoutSeconds: undefined, retries: undefined, maxRequestMiB: 48 },
      },
    );
    // grpo additions have no schema default, so configs without them keep their digest.
    assert.equal(mini.config.stages[1]?.grpo.gradientAccumulationSteps, undefined);
    assert.equal(paper.config.stages[0]?.grpo.batchSize, 8); // the LM's micro-batch (torch stage 1)
    assert.equal(s2.saveEvery, 10);
    assert.equal(s2.evalEvery, 10);
    assert.deepEqual(paper.config.workers.gpu.gpuIds, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(paper.config.reward.service.gpuId, 7);
    assert.match(mini.digest, /^[0-9a-f]{64}$/);
  });

  const variants: Array<{ name: string; edit: (d: ReturnType<typeof parseDocument>) => void; expect: RegExp }> = [
    {
      name: 'group size 0',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'groupSize'], 0),
      expect: /^stages\[1\]\.grpo\.groupSize: expected an integer ≥ 2, got 0$/,
    },
    {
      name: 'fractional group size',
      edit: (d) => d.setIn(['stages', 0, 'grpo', 'groupSize'], 2.5),
      expect: /^stages\[0\]\.grpo\.groupSize: expected an integer ≥ 2, got 2\.5$/,
    },
    {
      name: 'string learning rate',
      edit: (d) => d.setIn(['stages', 2, 'grpo', 'learningRate'], 'fast'),
      expect: /^stages\[2\]\.grpo\.learningRate: expected a number > 0, got "fast"$/,
    },
    {
      name: 'unknown key',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'groupsize'], 8),
      expect: /^stages\[1\]\.grpo\.groupsize: unknown key/,
    },
    { name: 'unknown top-level key', edit: (d) => d.set('extra', true), expect: /^extra: unknown key/ },
    {
      name: 'missing storage credentials',
      edit: (d) => d.deleteIn(['storage', 'credentials']),
      expect: /^storage\.credentials: expected a mapping, got nothing$/,
    },
    {
      name: 'secret in the text',
      edit: (d) => d.setIn(['storage', 'credentials', 'secretAccessKey'], d.createNode({ value: 'hunter2' })),
      expect: /^storage\.credentials\.secretAccessKey\.value: unknown key/,
    },
    {
      name: 'both env and file',
      edit: (d) => d.setIn(['storage', 'credentials', 'accessKeyId'], d.createNode({ env: 'A', file: 'b' })),
      expect: /^storage\.credentials\.accessKeyId: expected exactly one of env or file/,
    },
    {
      name: 'bad trainer backend',
      edit: (d) => d.setIn(['stages', 0, 'trainer', 'backend'], 'pytorch'),
      expect: /^stages\[0\]\.trainer(\.backend)?: expected backend to be one of builtin \| external \| torch/,
    },
    {
      name: 'bad klMode',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'klMode'], 'kl'),
      expect: /^stages\[1\]\.grpo\.klMode: expected one of velocity-mse \| mean-kl, got "kl"$/,
    },
    {
      name: 'bad endpoint',
      edit: (d) => d.setIn(['storage', 'endpoint'], 'not a url'),
      expect: /^storage\.endpoint: expected an http\(s\) URL, got "not a url"$/,
    },
    {
      name: 'unknown part checksum',
      edit: (d) => d.setIn(['storage', 'partChecksum'], 'md5'),
      expect: /^storage\.partChecksum: expected one of crc32 \| none, got "md5"$/,
    },
    {
      name: 'bad bucket',
      edit: (d) => d.setIn(['storage', 'bucket'], 'Bad_Bucket'),
      expect: /^storage\.bucket: expected an S3 bucket name/,
    },
    {
      name: 'noise level out of range',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'noiseLevel'], -1),
      expect: /^stages\[1\]\.grpo\.noiseLevel: expected a number in \[0, 10\], got -1$/,
    },
    {
      name: 'stages out of order',
      edit: (d) => d.setIn(['stages', 1, 'stage'], 3),
      expect: /^stages\[1\]\.stage: expected 2 \(stages are listed in order\), got 3$/,
    },
    {
      name: 'held-out detector as reward',
      edit: (d) => d.setIn(['reward', 'detectors', 0, 'name'], 'residual-heldout'),
      expect: /^reward\.detectors\[0\]\.name: "residual-heldout" is a held-out detector/,
    },
    {
      name: 'evalEvery not a multiple of saveEvery',
      edit: (d) => d.setIn(['stages', 0, 'evalEvery'], 7),
      expect: /^stages\[0\]\.evalEvery: expected evalEvery to be a multiple of saveEvery$/,
    },
    {
      name: 'judge on unknown detector',
      edit: (d) => d.setIn(['evaluation', 'judge', 'detector'], 'nope'),
      expect: /^evaluation\.judge\.detector: expected one of the evaluation detectors/,
    },
    { name: 'wrong version', edit: (d) => d.set('version', 2), expect: /^version: expected 1, got 2$/ },
    {
      name: 'priority out of range',
      edit: (d) => d.setIn(['priority'], 0),
      expect: /^priority: expected an integer in \[1, 5\], got 0$/,
    },
    {
      name: 'negative GPU-hour price',
      edit: (d) => d.setIn(['costPerGpuHour'], -1),
      expect: /^costPerGpuHour: expected a number ≥ 0, got -1$/,
    },
    {
      name: 'webhook URL in the text',
      edit: (d) =>
        d.setIn(['notifications'], d.createNode({ targets: [{ name: 'ops', url: 'https://hooks.example/T0/B0/secret' }] })),
      expect:
        /^notifications\.targets\[0\]\.url: expected \{ env: NAME \} or \{ file: path \} \(secrets never go in the config text\), got a string of 34 characters$/,
    },
    {
      name: 'unknown notification event',
      edit: (d) =>
        d.setIn(['notifications'], d.createNode({ targets: [{ name: 'ops', url: { env: 'HOOK' }, events: ['run-started'] }] })),
      expect:
        /^notifications\.targets\[0\]\.events\[0\]: expected one of run-failed \| run-finished \| stage-finished \| evaluation-finished \| worker-lost, got "run-started"$/,
    },
    {
      name: 'sde window inverted',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'sdeWindow', 'startMin'], 9),
      expect: /^stages\[1\]\.grpo\.sdeWindow: expected startMin ≤ startMax$/,
    },
  ];

  /** Stage 2 of the mini preset switched to the torch trainer, then `edit`. */
  const torch = (edit: (d: ReturnType<typeof parseDocument>) => void) => (d: ReturnType<typeof parseDocument>) => {
    d.setIn(['stages', 1, 'trainer'], d.createNode({ backend: 'torch', family: 'mini', numProcesses: 2 }));
    edit(d);
  };
  variants.push(
    {
      name: 'torch: unknown family',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'family'], 'sdxl')),
      expect: /^stages\[1\]\.trainer\.family: expected one of mini \| flux, got "sdxl"$/,
    },
    {
      name: 'torch: zero ranks',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'numProcesses'], 0)),
      expect: /^stages\[1\]\.trainer\.numProcesses: expected an integer ≥ 1, got 0$/,
    },
    {
      name: 'torch: ranks not dividing the samples',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'numProcesses'], 3)),
      expect: /^stages\[1\]\.trainer\.numProcesses: expected a divisor of promptsPerEpoch × groupSize \(8\), got 3$/,
    },
    {
      name: 'torch: bad precision',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'precision'], 'fp16')),
      expect: /^stages\[1\]\.trainer\.precision: expected one of auto \| bf16 \| fp32, got "fp16"$/,
    },
    {
      name: 'torch: resolution not a multiple of 16',
      edit: torch((d) => {
        d.setIn(['stages', 1, 'trainer', 'family'], 'flux');
        d.setIn(['stages', 1, 'trainer', 'tiny'], true);
        d.setIn(['stages', 1, 'trainer', 'resolution'], 100);
      }),
      expect: /^stages\[1\]\.trainer\.resolution: expected a multiple of 16$/,
    },
    {
      name: 'torch: flux without weights',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'family'], 'flux')),
      expect: /^stages\[1\]\.trainer\.pretrained: expected a local FLUX\.1-dev folder/,
    },
    {
      name: 'torch: flux-only field on mini',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'tiny'], true)),
      expect: /^stages\[1\]\.trainer\.family: tiny, pretrained and resolution are flux-only/,
    },
    {
      name: 'torch: bad prompt field',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'promptField'], 'caption')),
      expect: /^stages\[1\]\.trainer\.promptField: expected one of prompt \| long_prompt, got "caption"$/,
    },
    {
      name: 'torch: empty LoRA targets',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'loraTargets'], d.createNode([]))),
      expect: /^stages\[1\]\.trainer\.loraTargets: expected at least one module name$/,
    },
    {
      name: 'torch: reward url',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'reward'], d.createNode({ url: 'localhost' }))),
      expect: /^stages\[1\]\.trainer\.reward\.url: expected an http\(s\) URL, got "localhost"$/,
    },
    {
      name: 'torch: reward token env name',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'reward'], d.createNode({ tokenEnv: 'my token' }))),
      expect: /^stages\[1\]\.trainer\.reward\.tokenEnv: expected an environment variable name, got "my token"$/,
    },
    {
      name: 'torch: negative retries',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'reward'], d.createNode({ retries: -1 }))),
      expect: /^stages\[1\]\.trainer\.reward\.retries: expected an integer ≥ 0, got -1$/,
    },
    {
      name: 'torch: zero request size',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'reward'], d.createNode({ maxRequestMiB: 0 }))),
      expect: /^stages\[1\]\.trainer\.reward\.maxRequestMiB: expected a number > 0, got 0$/,
    },
    {
      name: 'torch: unknown trainer key',
      edit: torch((d) => d.setIn(['stages', 1, 'trainer', 'gpus'], 2)),
      expect: /^stages\[1\]\.trainer\.gpus: unknown key/,
    },
    {
      name: 'torch: no SDE window',
      edit: torch((d) => d.deleteIn(['stages', 1, 'grpo', 'sdeWindow'])),
      expect: /^stages\[1\]\.grpo\.sdeWindow: expected \{size, startMin, startMax\}/,
    },
    {
      name: 'torch: SDE window past the steps',
      edit: torch((d) => d.setIn(['stages', 1, 'grpo', 'sdeWindow', 'startMax'], 7)),
      expect: /^stages\[1\]\.grpo\.sdeWindow: expected startMax \+ size ≤ samplingSteps \(8\), got 9$/,
    },
    {
      name: 'torch: mini without tokenizer',
      edit: torch((d) => d.deleteIn(['models', 'tokenizer'])),
      expect: /^models\.tokenizer: expected the realgen-mini tokenizer file \(stages\[1\]/,
    },
    {
      name: 'grpo: zero accumulation',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'gradientAccumulationSteps'], 0),
      expect: /^stages\[1\]\.grpo\.gradientAccumulationSteps: expected an integer ≥ 1, got 0$/,
    },
    {
      name: 'grpo: zero inner epochs',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'innerEpochs'], 0),
      expect: /^stages\[1\]\.grpo\.innerEpochs: expected an integer ≥ 1, got 0$/,
    },
    {
      name: 'grpo: negative warm-up',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'lrWarmupSteps'], -2),
      expect: /^stages\[1\]\.grpo\.lrWarmupSteps: expected an integer ≥ 0, got -2$/,
    },
    {
      name: 'grpo: zero sigma shift',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'sigmaShift'], 0),
      expect: /^stages\[1\]\.grpo\.sigmaShift: expected a number > 0, got 0$/,
    },
    {
      name: 'grpo: negative guidance',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'guidance'], -1),
      expect: /^stages\[1\]\.grpo\.guidance: expected a number ≥ 0, got -1$/,
    },
    {
      name: 'grpo: bad LoRA init',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'lora'], d.createNode({ rank: 4, alpha: 8, init: 'pissa' })),
      expect: /^stages\[1\]\.grpo\.lora\.init: expected one of gaussian \| default, got "pissa"$/,
    },
    {
      name: 'grpo: EMA decay 1',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'ema'], d.createNode({ decay: 1 })),
      expect: /^stages\[1\]\.grpo\.ema\.decay: expected a number in \[0, 0\.999999\], got 1$/,
    },
    {
      name: 'grpo: EMA every 0',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'ema'], d.createNode({ everyOptimizerSteps: 0 })),
      expect: /^stages\[1\]\.grpo\.ema\.everyOptimizerSteps: expected an integer ≥ 1, got 0$/,
    },
  );

  for (const v of variants) {
    it(`reports the path of the problem: ${v.name}`, () => {
      const problems = problemsAfter(v.edit);
      assert.ok(
        problems.some((p) => v.expect.test(p)),
        `expected a line matching ${v.expect}, got:\n${problems.join('\n')}`,
      );
    });
  }

  it('reports YAML syntax errors with their line', () => {
    const result = parseConfigText('version: 1\nname: [a, {b}\n');
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : (result.problems[0]?.path ?? ''), /yaml line \d+/);
  });

  it('`realgen config check` prints each problem and exits non-zero; passes the presets', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-cfg-'));
    const doc = parseDocument(miniText);
    doc.setIn(['stages', 1, 'grpo', 'groupSize'], 0);
    doc.setIn(['stages', 0, 'grpo', 'typo'], 1);
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, doc.toString());
    const r = spawnSync(realgen, ['config', 'check', bad], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /2 problems/);
    assert.match(r.stdout, /stages\[1\]\.grpo\.groupSize: expected an integer ≥ 2, got 0/);
    assert.match(r.stdout, /stages\[0\]\.grpo\.typo: unknown key/);
    const presets = ['mini.yaml', 'mini-torch.yaml', 'paper-8xh200.yaml', 'paper-8xh200-upstream.yaml'];
    const ok = spawnSync(realgen, ['config', 'check', ...presets.map((f) => path.join(repo, 'configs', f))], {
      encoding: 'utf8',
    });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    for (const f of presets) assert.match(ok.stdout, new RegExp(`/${f.replace(/\./g, '\\.')}: ok`));
  });

  it('reads secrets from env or files and names the field, never the value, when missing', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-secret-'));
    writeFileSync(path.join(dir, 'k'), 's3cr3t\n');
    assert.equal(readSecret({ file: 'k' }, dir, 'storage.credentials.secretAccessKey'), 's3cr3t');
    assert.equal(readSecret({ env: 'RG_TEST_SECRET' }, dir, 'x', { RG_TEST_SECRET: 'v' }), 'v');
    assert.throws(
      () => readSecret({ env: 'RG_MISSING' }, dir, 'judge.apiKey', {}),
      /judge\.apiKey: environment variable RG_MISSING is not set/,
    );
    assert.throws(
      () => readSecret({ file: 'nope' }, dir, 'storage.credentials.accessKeyId'),
      /storage\.credentials\.accessKeyId: secret file .*nope cannot be read \(ENOENT\)/,
    );
  });
});

describe('config check: secrets and bounds (issue 12 items 1, 2, 5)', () => {
  const inline = 'hf_SuperSecretInlineTokenValue0123456789abcdefghijklmnopqrstuv';
  const withExternalEnv = (env: unknown) => (d: ReturnType<typeof parseDocument>) => {
    d.setIn(['stages', 0, 'trainer'], d.createNode({ backend: 'external', command: 'python', env }));
  };

  it('refuses a plain trainer env value under a name that may hold a secret, without echoing it', () => {
    const problems = problemsAfter(withExternalEnv({ HF_TOKEN: inline }));
    assert.ok(
      problems.some((p) => /^stages\[0\]\.trainer\.env\.HF_TOKEN: HF_TOKEN may hold a secret: expected \{ env: NAME \}/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.every((p) => !p.includes('SuperSecret')),
      problems.join('\n'),
    );
  });

  it('accepts secret references, explicit { plain } values and plain values of known non-secret names', () => {
    const doc = parseDocument(miniText);
    withExternalEnv({
      HF_TOKEN: { env: 'HF_TOKEN' },
      WANDB_API_KEY: { file: 'wandb.key' },
      WANDB_MODE: 'offline',
      NCCL_DEBUG: 'INFO',
      RUN_TAG: { plain: 'a' },
    })(doc);
    const result = parseConfigText(doc.toString());
    assert.equal(result.ok, true, result.ok ? '' : result.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  });

  it('refuses credentials inside URLs without echoing them', () => {
    const problems = problemsAfter((d) => d.setIn(['storage', 'endpoint'], 'http://admin:hunter2secret@127.0.0.1:9000'));
    assert.ok(
      problems.some((p) => /^storage\.endpoint: expected a URL without user:password@/.test(p)),
      problems.join('\n'),
    );
    assert.ok(problems.every((p) => !p.includes('hunter2secret')));
  });

  it('names the kind of a refused secret value, never the value (storage key and judge apiKey)', () => {
    const key = 'SuperSecretInlineAccessKey0123456789abcdefghijklmnopqrstuvw';
    const problems = problemsAfter((d) => {
      d.setIn(['storage', 'credentials', 'secretAccessKey'], key);
      d.setIn(
        ['evaluation', 'judge'],
        d.createNode({
          backend: 'openai',
          baseUrl: 'http://127.0.0.1:8000/v1',
          model: 'm',
          apiKey: 'sk-inline-judge-key-0123456789',
        }),
      );
    });
    assert.ok(
      problems.includes(
        `storage.credentials.secretAccessKey: expected { env: NAME } or { file: path } (secrets never go in the config text), got a string of ${key.length} characters`,
      ),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /^evaluation\.judge\.apiKey: expected \{ env: NAME \}.*got a string of 30 characters$/.test(p)),
      problems.join('\n'),
    );
    for (const p of problems) assert.ok(!p.includes('SuperSecret') && !p.includes('sk-inline'), p);
  });

  it('caps string lengths and the file size with clear errors', () => {
    const problems = problemsAfter((d) => d.set('name', 'x'.repeat(50_000)));
    assert.deepEqual(problems, ['name: expected at most 4096 characters, got a string of 50000 characters']);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-cfg-big-'));
    const big = path.join(dir, 'big.yaml');
    writeFileSync(big, `${miniText}\n# ${'x'.repeat(300_000)}\n`);
    assert.throws(() => loadConfig(big), /\(file\): cannot be read: \d+ bytes, more than the 262144 allowed/);
    assert.throws(() => loadConfig('/dev/zero'), /\(file\): cannot be read: not a regular file/);
  });

  it('`config check` with several files reports each file, past a YAML error that stops parsing', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-cfg-multi-'));
    writeFileSync(path.join(dir, 'a.yaml'), 'a: &x 1\nb: *y\n');
    writeFileSync(path.join(dir, 'b.yaml'), 'version: 1\nname: [a, {b}\n');
    const r = spawnSync(
      realgen,
      ['config', 'check', path.join(dir, 'a.yaml'), path.join(dir, 'b.yaml'), path.join(repo, 'configs', 'mini.yaml')],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /a\.yaml: 1 problem\n {2}\(yaml\): Unresolved alias/);
    assert.match(r.stdout, /b\.yaml: \d+ problems?\n {2}\(yaml line/);
    assert.match(r.stdout, /mini\.yaml: ok/);
  });

  it('refuses model paths outside the allowed roots and never prints their content', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-cfg-roots-'));
    const doc = parseDocument(miniText);
    const abs = (p: unknown) => path.resolve(repo, 'configs', String(p));
    for (const key of ['generator', 'tokenizer', 'descriptors']) doc.setIn(['models', key], abs(doc.getIn(['models', key])));
    doc.setIn(['reward', 'alignment', 'manifest'], abs(doc.getIn(['reward', 'alignment', 'manifest'])));
    doc.setIn(['reward', 'detectors', 0, 'manifest'], '/etc/passwd');
    for (let i = 0; i < 3; i++)
      doc.setIn(['evaluation', 'detectors', i, 'manifest'], abs(doc.getIn(['evaluation', 'detectors', i, 'manifest'])));
    doc.setIn(['evaluation', 'detectors', 1, 'manifest'], '../../../../../../etc/hostname');
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, doc.toString());
    const r = spawnSync(realgen, ['config', 'check', file], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /reward\.detectors\[0\]\.manifest: \/etc\/passwd is outside the allowed model folders/);
    assert.match(r.stdout, /evaluation\.detectors\[1\]\.manifest: \/etc\/hostname is outside the allowed model folders/);
    assert.ok(!r.stdout.includes('root:'), r.stdout);
  });
});
