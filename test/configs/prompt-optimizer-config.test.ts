/**
 * The config of the torch trainer's prompt-optimizer stages (1: the LM over a frozen generator, 3: joint):
 * `trainer.lm` and `lmGrpo`, the refinements that name the field a trainer would refuse or ignore, and a cross-check
 * that the Python trainer (realgen_torch/lm_settings.py) accepts what the schema accepts in every preset.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { torchVenvPython, TORCH_PACKAGE_DIR } from '../../activities/training/torch-launcher';
import { loadConfig, parseConfigText } from '../../configs/load';
import { modelPathProblems } from '../../configs/model-paths';

const repo = path.resolve(__dirname, '..', '..');
/** All three stages on the torch trainer, stages 1 and 3 with the realgen-mini LM. */
const miniTorchText = readFileSync(path.join(repo, 'configs', 'mini-torch.yaml'), 'utf8');
type Doc = ReturnType<typeof parseDocument>;

function check(edit: (d: Doc) => void) {
  const doc = parseDocument(miniTorchText);
  edit(doc);
  return parseConfigText(doc.toString());
}

/** The problems `config check` prints for the edited mini-torch preset (which must be refused). */
function problemsAfter(edit: (d: Doc) => void): string[] {
  const r = check(edit);
  assert.equal(r.ok, false, 'the edited preset must be refused');
  return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
}

function assertProblem(edit: (d: Doc) => void, expect: RegExp): void {
  const problems = problemsAfter(edit);
  assert.ok(
    problems.some((p) => expect.test(p)),
    `expected a line matching ${expect}, got:\n${problems.join('\n')}`,
  );
}

describe('config: torch stages 1 and 3 (prompt optimizer)', () => {
  it('accepts mini-torch with every stage on the torch trainer and keeps lm and lmGrpo for the job spec', () => {
    const { config } = loadConfig(path.join(repo, 'configs', 'mini-torch.yaml'));
    assert.deepEqual(
      config.stages.map((s) => s.trainer.backend),
      ['torch', 'torch', 'torch'],
    );
    const [s1, , s3] = config.stages;
    assert.ok(s1?.trainer.backend === 'torch' && s3?.trainer.backend === 'torch');
    // The job spec carries the validated config whole (trainer-supervisor.ts), so what the schema keeps reaches
    // the trainer; no schema defaults are filled in (lm_settings.py applies its own).
    assert.deepEqual(s1.trainer.lm, {
      pretrained: '../models/realgen-mini-lm',
      systemPrompt: 'Rewrite the image prompt.',
      maxNewTokens: 96,
      minWords: 2,
      maxWords: 60,
    });
    assert.equal(s1.grpo.sdeWindow, undefined);
    assert.equal(s1.lmGrpo, undefined);
    assert.deepEqual(s3.lmGrpo, {
      learningRate: 0.002,
      klBeta: 0.02,
      clipRange: 0.2,
      batchSize: 4,
      lora: { rank: 4, alpha: 8 },
      adam: { weightDecay: 0 },
    });
  });

  it('paper-8xh200: Qwen3-4B-Instruct-2507 over FLUX.1-dev in stages 1 and 3, one process each', () => {
    for (const file of ['paper-8xh200.yaml', 'paper-8xh200-upstream.yaml']) {
      const { config } = loadConfig(path.join(repo, 'configs', file));
      const s1 = config.stages[0];
      assert.ok(s1?.trainer.backend === 'torch', file);
      assert.equal(s1.trainer.family, 'flux');
      assert.equal(s1.trainer.pretrained, '/models/FLUX.1-dev');
      assert.equal(s1.trainer.numProcesses, 1);
      assert.equal(s1.trainer.lm?.pretrained, '/models/Qwen3-4B-Instruct-2507');
      assert.equal(s1.grpo.samplingSteps, 28);
      assert.equal(s1.grpo.adam.weightDecay, 0);
    }
    const s3 = loadConfig(path.join(repo, 'configs', 'paper-8xh200.yaml')).config.stages[2];
    assert.ok(s3?.trainer.backend === 'torch' && s3.enabled);
    assert.equal(s3.trainer.lm?.pretrained, '/models/Qwen3-4B-Instruct-2507');
    assert.equal(s3.trainer.numProcesses, 1);
    // It starts from stage 2's FLUX LoRA: the same shape.
    assert.deepEqual(s3.grpo.lora, { rank: 64, alpha: 128, init: 'gaussian' });
    assert.equal(s3.lmGrpo?.learningRate, 1e-5);
  });

  it('stage 1 needs no SDE window (its generator is frozen and renders with the ODE); stages 2 and 3 do', () => {
    assert.equal(check(() => undefined).ok, true);
    assertProblem(
      (d) => d.deleteIn(['stages', 2, 'grpo', 'sdeWindow']),
      /^stages\[2\]\.grpo\.sdeWindow: expected \{size, startMin, startMax\}: the torch trainer's stage 3 trains an SDE window$/,
    );
  });

  const refused: Array<{ name: string; edit: (d: Doc) => void; expect: RegExp }> = [
    {
      name: 'stage 1 without trainer.lm',
      edit: (d) => d.deleteIn(['stages', 0, 'trainer', 'lm']),
      expect:
        /^stages\[0\]\.trainer\.lm: expected \{pretrained: <local causal-LM folder>, …\}: the torch trainer's stage 1 trains/,
    },
    {
      name: 'stage 3 without trainer.lm',
      edit: (d) => d.deleteIn(['stages', 2, 'trainer', 'lm']),
      expect:
        /^stages\[2\]\.trainer\.lm: expected \{pretrained: <local causal-LM folder>, …\}: the torch trainer's stage 3 trains/,
    },
    {
      name: 'stage 3 without lmGrpo',
      edit: (d) => d.deleteIn(['stages', 2, 'lmGrpo']),
      expect: /^stages\[2\]\.lmGrpo: expected \{learningRate, …\}: the torch trainer's stage 3 optimises the LM with lmGrpo/,
    },
    {
      name: 'stage 1 on 2 processes',
      edit: (d) => d.setIn(['stages', 0, 'trainer', 'numProcesses'], 2),
      expect:
        /^stages\[0\]\.trainer\.numProcesses: expected 1: the torch trainer runs stage 1 \(prompt optimizer\) in one process, got 2$/,
    },
    {
      name: 'stage 3 on 2 processes',
      edit: (d) => d.setIn(['stages', 2, 'trainer', 'numProcesses'], 2),
      expect:
        /^stages\[2\]\.trainer\.numProcesses: expected 1: the torch trainer runs stage 3 \(prompt optimizer\) in one process, got 2$/,
    },
    {
      name: 'lm on stage 2',
      edit: (d) => d.setIn(['stages', 1, 'trainer', 'lm'], d.createNode({ pretrained: '../models/realgen-mini-lm' })),
      expect:
        /^stages\[1\]\.trainer\.lm: stage 2 does not run the prompt-optimizer LM \(it trains on the RealBench text\): remove trainer\.lm$/,
    },
    {
      name: 'lmGrpo on stage 1',
      edit: (d) => d.setIn(['stages', 0, 'lmGrpo'], d.createNode({ learningRate: 0.001 })),
      expect:
        /^stages\[0\]\.lmGrpo: only the torch trainer's stage 3 reads lmGrpo \(stage 1's LM optimisation is in grpo\); got it on a torch stage 1$/,
    },
    {
      name: 'lmGrpo on a builtin stage 3',
      edit: (d) => {
        d.setIn(['stages', 2, 'trainer'], d.createNode({ backend: 'builtin' }));
      },
      expect: /^stages\[2\]\.lmGrpo: only the torch trainer's stage 3 reads lmGrpo .*got it on a builtin stage 3$/,
    },
    {
      name: 'LM LoRA targets on a diffusion stage',
      edit: (d) => d.setIn(['stages', 1, 'grpo', 'lora', 'targets'], d.createNode(['to_q'])),
      expect: /^stages\[1\]\.grpo\.lora\.targets: only the torch trainer's stage 1 reads grpo\.lora\.targets/,
    },
    {
      name: 'lm without pretrained',
      edit: (d) => d.deleteIn(['stages', 0, 'trainer', 'lm', 'pretrained']),
      expect: /^stages\[0\]\.trainer\.lm\.pretrained: expected a folder path, got nothing$/,
    },
    {
      name: 'lm: zero temperature',
      edit: (d) => d.setIn(['stages', 0, 'trainer', 'lm', 'temperature'], 0),
      expect: /^stages\[0\]\.trainer\.lm\.temperature: expected a number > 0, got 0$/,
    },
    {
      name: 'lm: bad alignTo',
      edit: (d) => d.setIn(['stages', 2, 'trainer', 'lm', 'alignTo'], 'both'),
      expect: /^stages\[2\]\.trainer\.lm\.alignTo: expected one of original \| rewrite, got "both"$/,
    },
    {
      name: 'lm: blank system prompt',
      edit: (d) => d.setIn(['stages', 0, 'trainer', 'lm', 'systemPrompt'], '   '),
      expect: /^stages\[0\]\.trainer\.lm\.systemPrompt: expected a non-empty string, got only spaces$/,
    },
    {
      name: 'lm: minWords above maxWords',
      edit: (d) => d.setIn(['stages', 0, 'trainer', 'lm', 'minWords'], 61),
      expect: /^stages\[0\]\.trainer\.lm: expected minWords ≤ maxWords, got 61 > 60$/,
    },
    {
      name: "lm: maxWords below the trainer's default minWords",
      edit: (d) => {
        d.deleteIn(['stages', 0, 'trainer', 'lm', 'minWords']);
        d.setIn(['stages', 0, 'trainer', 'lm', 'maxWords'], 2);
      },
      expect: /^stages\[0\]\.trainer\.lm: expected minWords ≤ maxWords, got 3 > 2$/,
    },
    {
      name: 'lm: unknown key',
      edit: (d) => d.setIn(['stages', 0, 'trainer', 'lm', 'topP'], 0.9),
      expect: /^stages\[0\]\.trainer\.lm\.topP: unknown key/,
    },
    {
      name: 'lmGrpo without learningRate',
      edit: (d) => d.deleteIn(['stages', 2, 'lmGrpo', 'learningRate']),
      expect:
        /^stages\[2\]\.lmGrpo\.learningRate: expected a number in \(0, 1\]|^stages\[2\]\.lmGrpo\.learningRate: expected a number > 0/,
    },
    {
      name: 'lmGrpo: Adam beta 1',
      edit: (d) => d.setIn(['stages', 2, 'lmGrpo', 'adam', 'beta2'], 1),
      expect: /^stages\[2\]\.lmGrpo\.adam\.beta2: expected a number in \[0, 0\.999999\], got 1$/,
    },
    {
      name: 'lmGrpo: empty LoRA targets',
      edit: (d) => d.setIn(['stages', 2, 'lmGrpo', 'lora', 'targets'], d.createNode([])),
      expect: /^stages\[2\]\.lmGrpo\.lora\.targets: expected at least one module name$/,
    },
    {
      name: 'lmGrpo: unknown key',
      edit: (d) => d.setIn(['stages', 2, 'lmGrpo', 'groupSize'], 4),
      expect: /^stages\[2\]\.lmGrpo\.groupSize: unknown key/,
    },
    {
      name: "stage 3's LM LoRA rank differs from stage 1's",
      edit: (d) => d.setIn(['stages', 2, 'lmGrpo', 'lora', 'rank'], 8),
      expect:
        /^stages\[2\]\.lmGrpo\.lora\.rank: expected 4 \(stage 1's grpo\.lora\.rank: stage 3 starts from stage 1's LM LoRA\), got 8$/,
    },
    {
      name: "stage 3's LM LoRA rank left to the default (16), stage 1's is 4",
      edit: (d) => d.deleteIn(['stages', 2, 'lmGrpo', 'lora']),
      expect: /^stages\[2\]\.lmGrpo\.lora\.rank: expected 4 .*got 16$/,
    },
    {
      name: "stage 3's LM LoRA targets differ from stage 1's (defaults)",
      edit: (d) => d.setIn(['stages', 2, 'lmGrpo', 'lora', 'targets'], d.createNode(['q_proj', 'v_proj'])),
      // Sorted, so that the order of a list does not count.
      expect: new RegExp(
        String.raw`^stages\[2\]\.lmGrpo\.lora\.targets: expected stage 1's LM LoRA targets ` +
          String.raw`\(down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj\): stage 3 starts from its LoRA, got q_proj, v_proj$`,
      ),
    },
    {
      name: "stage 3's diffusion LoRA rank differs from stage 2's",
      edit: (d) => d.setIn(['stages', 2, 'grpo', 'lora', 'rank'], 8),
      expect:
        /^stages\[2\]\.grpo\.lora\.rank: expected 4 \(stage 2's grpo\.lora\.rank: stage 3 starts from its diffusion LoRA\), got 8$/,
    },
    {
      name: "stage 3's family differs from stage 2's",
      edit: (d) => {
        d.setIn(['stages', 2, 'trainer', 'family'], 'flux');
        d.setIn(['stages', 2, 'trainer', 'tiny'], true);
      },
      expect: /^stages\[2\]\.trainer\.family: expected mini \(stage 2's: stage 3 starts from its diffusion LoRA\), got flux$/,
    },
  ];
  for (const v of refused) {
    it(`refuses, naming the field: ${v.name}`, () => assertProblem(v.edit, v.expect));
  }

  it('checks LoRA shapes only between enabled stages (a disabled stage passes no checkpoint to stage 3)', () => {
    const r = check((d) => {
      d.setIn(['stages', 0, 'enabled'], false);
      d.setIn(['stages', 1, 'enabled'], false);
      d.setIn(['stages', 2, 'lmGrpo', 'lora', 'rank'], 8);
      d.setIn(['stages', 2, 'grpo', 'lora', 'rank'], 8);
    });
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  });

  it('refuses an LM folder outside the allowed model roots, naming the field', () => {
    const r = check((d) => d.setIn(['stages', 2, 'trainer', 'lm', 'pretrained'], '/etc'));
    assert.ok(r.ok);
    const problems = modelPathProblems(r.config, path.join(repo, 'configs'));
    assert.deepEqual(
      problems.map((p) => p.path),
      ['stages[2].trainer.lm.pretrained'],
    );
    assert.match(problems[0]?.message ?? '', /^\/etc is outside the allowed model folders/);
    assert.deepEqual(
      modelPathProblems(loadConfig(path.join(repo, 'configs', 'paper-8xh200.yaml')).config, path.join(repo, 'configs')),
      [],
    );
  });

  it('accepts the LM LoRA targets in stage 1', () => {
    const r = check((d) => {
      d.setIn(['stages', 0, 'grpo', 'lora', 'targets'], d.createNode(['q_proj', 'v_proj']));
      d.setIn(['stages', 2, 'lmGrpo', 'lora', 'targets'], d.createNode(['v_proj', 'q_proj']));
    });
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
    assert.deepEqual(r.config.stages[0]?.grpo.lora?.targets, ['q_proj', 'v_proj']);
  });

  it("the torch trainer's lm_settings.py accepts the stage 1 and 3 settings of every preset", () => {
    const python = torchVenvPython();
    if (!existsSync(python)) throw new Error(`${python} is missing: run bash scripts/install-python.sh first (npm test does)`);
    const jobs = ['mini-torch.yaml', 'paper-8xh200.yaml', 'paper-8xh200-upstream.yaml'].flatMap((file) => {
      const loaded = loadConfig(path.join(repo, 'configs', file));
      return loaded.config.stages
        .filter((s) => s.trainer.backend === 'torch' && s.stage !== 2)
        .map((s) => ({
          file,
          stage: s.stage,
          stageKey: `stage-${s.stage}`,
          config: loaded.config,
          configBaseDir: loaded.baseDir,
        }));
    });
    assert.equal(jobs.length, 5);
    const script = [
      'import json, sys',
      'from realgen_torch.lm_settings import read_lm_settings',
      'out = []',
      'for job in json.load(sys.stdin):',
      '    s, L = read_lm_settings(job)',
      '    out.append({"file": job["file"], "stage": job["stage"], "pretrained": L.pretrained, "lr": L.learning_rate,',
      '                "rank": L.lora_rank, "weightDecay": L.weight_decay, "systemPrompt": L.system_prompt})',
      'print(json.dumps(out))',
    ].join('\n');
    const r = spawnSync(python, ['-c', script], {
      input: JSON.stringify(jobs),
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: TORCH_PACKAGE_DIR },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const read = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    const mini = read.filter((x) => x.file === 'mini-torch.yaml');
    for (const x of mini) {
      assert.equal(x.pretrained, path.join(repo, 'models', 'realgen-mini-lm'));
      assert.equal(x.systemPrompt, 'Rewrite the image prompt.');
      assert.equal(x.lr, 0.002);
      assert.equal(x.rank, 4);
      assert.equal(x.weightDecay, 0);
    }
    for (const x of read.filter((y) => y.file !== 'mini-torch.yaml')) {
      assert.equal(x.pretrained, '/models/Qwen3-4B-Instruct-2507');
      assert.equal(x.lr, 1e-5);
      assert.equal(x.rank, 16);
    }
  });
});
