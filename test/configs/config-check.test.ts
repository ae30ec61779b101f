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
    const paper = loadConfig(path.join(repo, 'configs', 'paper-8xh200.yaml'));
    const s2 = paper.config.stages[1];
    assert.ok(s2);
    assert.equal(s2.grpo.groupSize, 21);
    assert.equal(s2.grpo.promptsPerEpoch, 24);
    assert.equal(s2.grpo.learningRate, 1e-4);
    assert.deepEqual(s2.grpo.lora, { rank: 64, alpha: 128 });
    assert.equal(s2.grpo.klBeta, 4e-4);
    assert.equal(s2.grpo.clipRange, 2e-6);
    assert.equal(s2.grpo.samplingSteps, 28);
    assert.equal(s2.grpo.noiseLevel, 0.9);
    assert.equal(s2.grpo.batchSize, 12);
    assert.equal(paper.config.stages[0]?.grpo.batchSize, 32);
    assert.equal(s2.saveEvery, 10);
    assert.equal(s2.evalEvery, 10);
    assert.deepEqual(paper.config.workers.gpu.gpuIds, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(paper.config.reward.service.gpuId, 7);
    assert.match(mini.digest, /^[0-9a-f]{64}$/);
  });

  const variants: Array<{ name: string; edit: (d: ReturnType<typeof parseDocument>) => void; expect: RegExp }> = [
    { name: 'group size 0', edit: (d) => d.setIn(['stages', 1, 'grpo', 'groupSize'], 0), expect: /^stages\[1\]\.grpo\.groupSize: expected an integer ≥ 2, got 0$/ },
    { name: 'fractional group size', edit: (d) => d.setIn(['stages', 0, 'grpo', 'groupSize'], 2.5), expect: /^stages\[0\]\.grpo\.groupSize: expected an integer ≥ 2, got 2\.5$/ },
    { name: 'string learning rate', edit: (d) => d.setIn(['stages', 2, 'grpo', 'learningRate'], 'fast'), expect: /^stages\[2\]\.grpo\.learningRate: expected a number > 0, got "fast"$/ },
    { name: 'unknown key', edit: (d) => d.setIn(['stages', 1, 'grpo', 'groupsize'], 8), expect: /^stages\[1\]\.grpo\.groupsize: unknown key/ },
    { name: 'unknown top-level key', edit: (d) => d.set('extra', true), expect: /^extra: unknown key/ },
    { name: 'missing storage credentials', edit: (d) => d.deleteIn(['storage', 'credentials']), expect: /^storage\.credentials: expected a mapping, got nothing$/ },
    { name: 'secret in the text', edit: (d) => d.setIn(['storage', 'credentials', 'secretAccessKey'], d.createNode({ value: 'hunter2' })), expect: /^storage\.credentials\.secretAccessKey\.value: unknown key/ },
    { name: 'both env and file', edit: (d) => d.setIn(['storage', 'credentials', 'accessKeyId'], d.createNode({ env: 'A', file: 'b' })), expect: /^storage\.credentials\.accessKeyId: expected exactly one of env or file/ },
    { name: 'bad trainer backend', edit: (d) => d.setIn(['stages', 0, 'trainer', 'backend'], 'pytorch'), expect: /^stages\[0\]\.trainer(\.backend)?: expected backend to be one of builtin \| external/ },
    { name: 'bad klMode', edit: (d) => d.setIn(['stages', 1, 'grpo', 'klMode'], 'kl'), expect: /^stages\[1\]\.grpo\.klMode: expected one of velocity-mse \| mean-kl, got "kl"$/ },
    { name: 'bad endpoint', edit: (d) => d.setIn(['storage', 'endpoint'], 'not a url'), expect: /^storage\.endpoint: expected an http\(s\) URL, got "not a url"$/ },
    { name: 'bad bucket', edit: (d) => d.setIn(['storage', 'bucket'], 'Bad_Bucket'), expect: /^storage\.bucket: expected an S3 bucket name/ },
    { name: 'noise level out of range', edit: (d) => d.setIn(['stages', 1, 'grpo', 'noiseLevel'], -1), expect: /^stages\[1\]\.grpo\.noiseLevel: expected a number in \[0, 10\], got -1$/ },
    { name: 'stages out of order', edit: (d) => d.setIn(['stages', 1, 'stage'], 3), expect: /^stages\[1\]\.stage: expected 2 \(stages are listed in order\), got 3$/ },
    { name: 'held-out detector as reward', edit: (d) => d.setIn(['reward', 'detectors', 0, 'name'], 'residual-heldout'), expect: /^reward\.detectors\[0\]\.name: "residual-heldout" is a held-out detector/ },
    { name: 'evalEvery not a multiple of saveEvery', edit: (d) => d.setIn(['stages', 0, 'evalEvery'], 7), expect: /^stages\[0\]\.evalEvery: expected evalEvery to be a multiple of saveEvery$/ },
    { name: 'judge on unknown detector', edit: (d) => d.setIn(['evaluation', 'judge', 'detector'], 'nope'), expect: /^evaluation\.judge\.detector: expected one of the evaluation detectors/ },
    { name: 'wrong version', edit: (d) => d.set('version', 2), expect: /^version: expected 1, got 2$/ },
    { name: 'sde window inverted', edit: (d) => d.setIn(['stages', 1, 'grpo', 'sdeWindow', 'startMin'], 9), expect: /^stages\[1\]\.grpo\.sdeWindow: expected startMin ≤ startMax$/ },
  ];

  for (const v of variants) {
    it(`reports the path of the problem: ${v.name}`, () => {
      const problems = problemsAfter(v.edit);
      assert.ok(problems.some((p) => v.expect.test(p)), `expected a line matching ${v.expect}, got:\n${problems.join('\n')}`);
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
    const ok = spawnSync(realgen, ['config', 'check', path.join(repo, 'configs', 'mini.yaml'), path.join(repo, 'configs', 'paper-8xh200.yaml')], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /mini\.yaml: ok/);
    assert.match(ok.stdout, /paper-8xh200\.yaml: ok/);
  });

  it('reads secrets from env or files and names the field, never the value, when missing', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-secret-'));
    writeFileSync(path.join(dir, 'k'), 's3cr3t\n');
    assert.equal(readSecret({ file: 'k' }, dir, 'storage.credentials.secretAccessKey'), 's3cr3t');
    assert.equal(readSecret({ env: 'RG_TEST_SECRET' }, dir, 'x', { RG_TEST_SECRET: 'v' }), 'v');
    assert.throws(() => readSecret({ env: 'RG_MISSING' }, dir, 'judge.apiKey', {}), /judge\.apiKey: environment variable RG_MISSING is not set/);
    assert.throws(() => readSecret({ file: 'nope' }, dir, 'storage.credentials.accessKeyId'), /storage\.credentials\.accessKeyId: secret file .*nope cannot be read \(ENOENT\)/);
  });
});

describe('config check: secrets and bounds (issue 12 items 1, 2, 5)', () => {
  const inline = 'hf_SuperSecretInlineTokenValue0123456789abcdefghijklmnopqrstuv';
  const withExternalEnv = (env: unknown) => (d: ReturnType<typeof parseDocument>) => {
    d.setIn(['stages', 0, 'trainer'], d.createNode({ backend: 'external', command: 'python', env }));
  };

  it('refuses a plain trainer env value under a name that may hold a secret, without echoing it', () => {
    const problems = problemsAfter(withExternalEnv({ HF_TOKEN: inline }));
    assert.ok(problems.some((p) => /^stages\[0\]\.trainer\.env\.HF_TOKEN: HF_TOKEN may hold a secret: expected \{ env: NAME \}/.test(p)), problems.join('\n'));
    assert.ok(problems.every((p) => !p.includes('SuperSecret')), problems.join('\n'));
  });

  it('accepts secret references, explicit { plain } values and plain values of known non-secret names', () => {
    const doc = parseDocument(miniText);
    withExternalEnv({ HF_TOKEN: { env: 'HF_TOKEN' }, WANDB_API_KEY: { file: 'wandb.key' }, WANDB_MODE: 'offline', NCCL_DEBUG: 'INFO', RUN_TAG: { plain: 'a' } })(doc);
    const result = parseConfigText(doc.toString());
    assert.equal(result.ok, true, result.ok ? '' : result.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  });

  it('refuses credentials inside URLs without echoing them', () => {
    const problems = problemsAfter((d) => d.setIn(['storage', 'endpoint'], 'http://admin:hunter2secret@127.0.0.1:9000'));
    assert.ok(problems.some((p) => /^storage\.endpoint: expected a URL without user:password@/.test(p)), problems.join('\n'));
    assert.ok(problems.every((p) => !p.includes('hunter2secret')));
  });

  it('names the kind of a refused secret value, never the value (storage key and judge apiKey)', () => {
    const key = 'SuperSecretInlineAccessKey0123456789abcdefghijklmnopqrstuvw';
    const problems = problemsAfter((d) => {
      d.setIn(['storage', 'credentials', 'secretAccessKey'], key);
      d.setIn(['evaluation', 'judge'], d.createNode({ backend: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', model: 'm', apiKey: 'sk-inline-judge-key-0123456789' }));
    });
    assert.ok(problems.includes(`storage.credentials.secretAccessKey: expected { env: NAME } or { file: path } (secrets never go in the config text), got a string of ${key.length} characters`), problems.join('\n'));
    assert.ok(problems.some((p) => /^evaluation\.judge\.apiKey: expected \{ env: NAME \}.*got a string of 30 characters$/.test(p)), problems.join('\n'));
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
    const r = spawnSync(realgen, ['config', 'check', path.join(dir, 'a.yaml'), path.join(dir, 'b.yaml'), path.join(repo, 'configs', 'mini.yaml')], { encoding: 'utf8' });
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
    for (let i = 0; i < 3; i++) doc.setIn(['evaluation', 'detectors', i, 'manifest'], abs(doc.getIn(['evaluation', 'detectors', i, 'manifest'])));
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
