/**
 * The official-script adapter's launch lines (configs/paper-8xh200-upstream.yaml, stage 2) checked the way the
 * upstream script will read them: the config module named by `--config=` is really loaded (our wrapper
 * trainers/external/upstream/realgen_config.py over a stand-in of upstream's config/grpo.py with upstream's field
 * types), and every `--config.*` override goes through ml_collections' rules (test/helpers/ml-collections-flags.ts).
 * A None field overridden by a flag, the bug that crashed every resume, cannot come back unnoticed.
 * Also: the metrics wrapper turns upstream's wandb.log calls into lines the preset's metricPatterns read.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../configs/load';
import { renderLaunch, type ExternalTrainerConfig, type TemplateValues } from '../../trainers/external/launch-template';
import { MetricParser, withCombinedReward } from '../../trainers/external/metric-parser';
import { overrideErrors, parseConfigFlags, type FieldInfo } from '../helpers/ml-collections-flags';

const repo = path.resolve(__dirname, '..', '..');
const upstreamDir = path.join(repo, 'test', 'fixtures', 'trainers', 'upstream-realgen-v1');
const loaded = loadConfig(path.join(repo, 'configs', 'paper-8xh200-upstream.yaml'));
const trainer = loaded.config.stages[1]!.trainer as ExternalTrainerConfig;
const values: TemplateValues = {
  gpus: '0,1,2,3,4,5,6',
  numProcesses: '7',
  outputDir: '/w/out/upstream',
  maxSteps: '100',
  port: '29517',
  resumePath: null,
};

/** Loads `file` as config_flags does (import it, call get_config(arg)) and dumps every leaf field's type and value. */
const DUMP = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("realgen_test_config", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
cfg = m.get_config(sys.argv[2]) if sys.argv[2] else m.get_config()
out = {}
def walk(o, prefix):
    for k, v in vars(o).items():
        if isinstance(v, (bool, int, float, str, tuple, list, dict, type(None))):
            out[prefix + k] = {"type": type(v).__name__, "value": v}
        else:
            walk(v, prefix + k + ".")
walk(cfg, "")
print(json.dumps(out))
`;

function loadFields(file: string, arg: string | null, env: Record<string, string>): Record<string, FieldInfo> {
  const r = spawnSync('python3', ['-c', DUMP, path.resolve(upstreamDir, file), arg ?? ''], {
    cwd: upstreamDir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, FieldInfo>;
}

/** What the upstream script would end up with: the errors, and train.lora_path after the overrides. */
function asUpstreamReadsIt(args: readonly string[], env: Record<string, string>) {
  const script = args.indexOf('scripts/train_flux_fast_guard.py');
  assert.ok(script >= 0, `no training script in ${args.join(' ')}`);
  const flags = parseConfigFlags(args.slice(script + 1));
  assert.ok(flags.file !== null, 'no --config=');
  const fields = loadFields(flags.file, flags.arg, env);
  const errors = overrideErrors(fields, flags.overrides);
  const lora = flags.overrides.filter((o) => o.path === 'train.lora_path').at(-1)?.value ?? fields['train.lora_path']?.value;
  return { errors, lora, saveDir: flags.overrides.find((o) => o.path === 'save_dir')?.value };
}

describe('official-script launch lines under ml_collections flag rules', () => {
  it('fresh start: the wrapper config loads, every override is legal, lora_path is empty (no resume)', () => {
    const r = renderLaunch(trainer, values, loaded.baseDir);
    const got = asUpstreamReadsIt(r.args, r.env);
    assert.deepEqual(got.errors, []);
    assert.equal(got.lora, '');
    assert.equal(got.saveDir, '/w/out/upstream');
    assert.ok(r.args.includes(path.join(repo, 'trainers', 'external', 'upstream', 'realgen_metrics.py')));
  });

  it('resume: the lora_path override is legal and the environment path agrees with it', () => {
    const r = renderLaunch(trainer, { ...values, resumePath: '/w/resume' }, loaded.baseDir);
    const viaFlag = asUpstreamReadsIt(r.args, r.env);
    assert.deepEqual(viaFlag.errors, []);
    assert.equal(viaFlag.lora, '/w/resume/lora');
    // The adapter exports REALGEN_RESUME_DIR on a resume; the wrapper alone (no flag) resumes from it too.
    const fresh = renderLaunch(trainer, values, loaded.baseDir);
    const viaEnv = asUpstreamReadsIt(fresh.args, { ...fresh.env, REALGEN_RESUME_DIR: '/w/resume' });
    assert.deepEqual(viaEnv.errors, []);
    assert.equal(viaEnv.lora, '/w/resume/lora');
  });

  it("catches the old line: upstream's own config with a lora_path override is refused as ml_collections does", () => {
    const old = [
      'scripts/train_flux_fast_guard.py',
      '--config=config/grpo.py:flux_fast_guard',
      '--config.save_dir=/w/out',
      '--config.train.lora_path=/w/resume/lora',
    ];
    const got = asUpstreamReadsIt(old, {});
    assert.deepEqual(got.errors, ["Type <class 'NoneType'> of field config.train.lora_path is not supported for overriding"]);
    const typo = asUpstreamReadsIt(
      [
        'scripts/train_flux_fast_guard.py',
        '--config=config/grpo.py:flux_fast_guard',
        '--config.train.lr=1',
        '--config.train.batch_size=3.5',
      ],
      {},
    );
    assert.deepEqual(typo.errors, [
      'Could not find field config.train.lr',
      'Could not parse "3.5" as int for field config.train.batch_size',
    ]);
  });

  it("metrics: wandb.log calls still reach wandb and become lines the preset's metricPatterns parse", () => {
    const r = renderLaunch(trainer, values, loaded.baseDir);
    const wrapper = r.args.find((a) => a.endsWith('realgen_metrics.py'));
    assert.ok(wrapper !== undefined);
    const script = r.args.indexOf('scripts/train_flux_fast_guard.py');
    const run = spawnSync('python3', [wrapper, ...r.args.slice(script)], {
      cwd: upstreamDir,
      encoding: 'utf8',
      env: { ...process.env, ...r.env, PYTHONPATH: path.join(upstreamDir, 'stubs') },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr.split('\n').filter((l) => l.startsWith('wandb.log ')).length, 2 * 4, run.stderr);
    assert.match(run.stdout, /^argv --config=\S+realgen_config\.py:flux_fast_guard --config\.save_dir=\/w\/out\/upstream$/m);
    const parser = new MetricParser(trainer.metricPatterns);
    const parsed = run.stdout
      .split('\n')
      .map((l) => parser.parse(l))
      .filter((p) => p !== null);
    const rewards = parsed.filter((p) => p.keyed.length > 0);
    assert.equal(rewards.length, 2);
    assert.deepEqual(rewards[1], {
      metrics: { forensic_chat: 1.25, omniaid: 0.5, longclip: 0.75 },
      keyed: ['forensic_chat', 'omniaid', 'longclip'],
      upstreamStep: null,
      epoch: 1,
    });
    assert.equal(withCombinedReward(rewards[1]!.metrics, rewards[1]!.keyed).reward, 2.5 / 3);
    const train = parsed.filter((p) => p.metrics.clipfrac !== undefined);
    assert.equal(train.length, 4);
    assert.deepEqual(train[3], {
      metrics: { approx_kl: 1e-7, clipfrac: 0.0625, policy_loss: -0.5, kl_loss: 2e-5 },
      keyed: [],
      upstreamStep: null,
      epoch: 1,
    });
    const stats = parsed.find((p) => p.metrics.zero_std_ratio !== undefined);
    assert.deepEqual(stats, { metrics: { zero_std_ratio: 0.125 }, keyed: [], upstreamStep: 0, epoch: null });
  });
});
