/**
 * The built-in realgen-mini trainer process (protocol: docs/trainer-protocol.md). Started by the supervisor
 * with `--job <job-spec.json>`; reports JSON lines; checkpoints every `saveEvery` steps and at the end of its
 * segment; on SIGTERM finishes the step in progress, checkpoints it and exits 0.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validateConfig } from '../../configs/load';
import { OnnxDetector } from '../../infra/detectors/onnx-detector';
import { Adam, type AdamConfig } from '../../domain/grpo/adam';
import { PromptPolicy, type Descriptors } from '../../domain/grpo/prompt-policy';
import { FilterAdapter } from '../../domain/grpo/filter-adapter';
import { VelocityAdapter } from '../../domain/grpo/velocity-adapter';
import { AlignmentScorer } from '../../infra/mini/alignment';
import { MiniGenerator } from '../../infra/mini/generator';
import { Rng } from '../../lib/random';
import { isHeldoutIndex, loadRealBench } from '../../infra/realbench/realbench';
import { emit, readJobSpec, TrainerFailure } from '../shared/protocol-io';
import { runEpoch, type EpochModels } from './grpo-epoch';
import { PromptSampler } from './prompt-sampler';
import { readParts, readState, writeState, type TrainerState } from './trainer-state';
import { loadTokenizer } from '../../infra/mini/tokenizer-file';
import { loadModelFile } from './model-files';

// ORT reductions can change low bits between thread settings: one thread per session keeps resumed runs identical.
const TUNING = { intraOpThreads: 1, interOpThreads: 1, device: 'cpu' as const };

async function main(): Promise<void> {
  let terminating = false;
  process.on('SIGTERM', () => {
    terminating = true;
  });
  const startedAt = Date.now();
  const job = readJobSpec();
  const valid = validateConfig(job.config);
  if (!valid.ok) throw new TrainerFailure('ConfigInvalid', valid.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  const config = valid.config;
  const cfg = config.stages[job.stage - 1];
  if (!cfg) throw new TrainerFailure('ConfigInvalid', `stages[${job.stage - 1}] does not exist`);
  if (cfg.grpo.ratioNorm)
    throw new TrainerFailure(
      'ConfigInvalid',
      `stages[${job.stage - 1}].grpo.ratioNorm: the built-in trainer does not implement GRPO-Guard; set it to false`,
    );
  if ((job.stage === 2 || job.stage === 3) && !cfg.grpo.sdeWindow)
    throw new TrainerFailure('ConfigInvalid', `stages[${job.stage - 1}].grpo.sdeWindow is required for stage ${job.stage}`);
  const rel = (p: string) => path.resolve(job.configBaseDir, p);
  emit({ type: 'heartbeat', note: 'loading models' });

  // --- models ---
  if (!config.models.tokenizer || !config.models.descriptors)
    throw new TrainerFailure('ConfigInvalid', 'models.tokenizer and models.descriptors are required by the built-in trainer');
  const generatorFile = rel(config.models.generator);
  const generator = await loadModelFile('models.generator', generatorFile, () => MiniGenerator.load(generatorFile, TUNING));
  const tokenizerFile = rel(config.models.tokenizer);
  const tokenizer = await loadModelFile('models.tokenizer', tokenizerFile, () => loadTokenizer(tokenizerFile));
  const descriptorsFile = rel(config.models.descriptors);
  const descriptors = await loadModelFile(
    'models.descriptors',
    descriptorsFile,
    () => JSON.parse(readFileSync(descriptorsFile, 'utf8')) as Descriptors,
  );
  const detectors: EpochModels['detectors'] = [];
  const weights: Record<string, number> = {};
  for (const [i, d] of config.reward.detectors.entries()) {
    const detector = await loadModelFile(`reward.detectors[${i}].manifest`, rel(d.manifest), () =>
      OnnxDetector.load(rel(d.manifest), { ...TUNING, maxBatch: 64 }),
    );
    if (detector.manifest.role === 'heldout')
      throw new TrainerFailure(
        'ConfigInvalid',
        `reward.detectors: "${d.name}" is a held-out detector; it may only be used in evaluation`,
      );
    detectors.push({ key: d.name, detector });
    weights[d.name] = d.weight;
  }
  let alignment: EpochModels['alignment'] = null;
  if (config.reward.alignment) {
    const file = rel(config.reward.alignment.manifest);
    alignment = {
      key: 'alignment',
      scorer: await loadModelFile('reward.alignment.manifest', file, () =>
        AlignmentScorer.load(file, { ...TUNING, maxBatch: 64 }),
      ),
    };
    weights.alignment = config.reward.alignment.weight;
  }
  const models: EpochModels = { generator, tokenizer, detectors, alignment, weights };

  // --- data: RealBench's non-held-out prompts (the held-out 10% is never trained on) ---
  if (!config.realbench.source.dir)
    throw new TrainerFailure('DatasetMissing', 'the built-in trainer reads prompts from realbench.source.dir');
  let prompts;
  try {
    prompts = (await loadRealBench(rel(config.realbench.source.dir))).items.filter((it) => !isHeldoutIndex(it.index));
  } catch (err) {
    throw new TrainerFailure('DatasetMissing', (err as Error).message);
  }

  // --- state: resume, or initialise from earlier stages ---
  const adamFor = (): AdamConfig => ({
    lr: cfg.grpo.learningRate,
    beta1: cfg.grpo.adam.beta1,
    beta2: cfg.grpo.adam.beta2,
    eps: cfg.grpo.adam.eps,
    weightDecay: cfg.grpo.adam.weightDecay,
    maxGradNorm: cfg.grpo.gradClipNorm,
  });
  let state: TrainerState;
  if (job.resumeDir) {
    try {
      state = readState(job.resumeDir, { policy: adamFor(), adapter: adamFor() });
    } catch (err) {
      throw new TrainerFailure('CheckpointCorrupt', `cannot resume from ${job.resumeDir}: ${(err as Error).message}`);
    }
    if (state.step !== job.startStep)
      throw new TrainerFailure('CheckpointCorrupt', `resume folder holds step ${state.step}, the job says ${job.startStep}`);
  } else {
    const own = job.initDirs[job.stageKey] ? readParts(job.initDirs[job.stageKey] as string) : { policy: null, adapter: null };
    const earlier = Object.entries(job.initDirs)
      .filter(([k]) => k !== job.stageKey)
      .map(([, dir]) => readParts(dir));
    const policyFrom =
      own.policy ??
      earlier
        .map((p) => p.policy)
        .filter((p) => p !== null)
        .at(-1) ??
      null;
    const adapterFrom =
      own.adapter ??
      earlier
        .map((p) => p.adapter)
        .filter((p) => p !== null)
        .at(-1) ??
      null;
    const policy = job.stage === 2 ? policyFrom : (policyFrom ?? PromptPolicy.create(descriptors, { init: 'zeros' }));
    const adapter =
      job.stage === 1
        ? null
        : (adapterFrom ??
          (cfg.grpo.adapter === 'filters'
            ? FilterAdapter.create({ side: generator.spec.size })
            : VelocityAdapter.create({ D: generator.imageElements })));
    state = {
      stage: job.stage,
      step: 0,
      rng: Rng.fromSeed(job.seed, 'trainer', job.stageKey).state(),
      cursor: 0,
      policy,
      policyAdam: job.stage !== 2 && policy ? new Adam(policy.size, adamFor()) : null,
      adapter,
      adapterAdam: adapter ? new Adam(adapter.size, adamFor()) : null,
      lastMetrics: {},
      rewardHistory: [],
    };
  }
  const rng = Rng.fromState(state.rng);
  const sampler = new PromptSampler(
    prompts.map((p) => ({ id: p.id, prompt: p.prompt, category: p.category })),
    job.seed,
    state.cursor,
    job.stageKey,
  );

  let lastSaved = job.startStep;
  const save = () => {
    state.rng = rng.state();
    state.cursor = sampler.cursor;
    const dir = path.join(job.outputDir, `checkpoint-${state.step}`);
    emit({ type: 'heartbeat', note: 'writing checkpoint' });
    writeState(dir, state);
    emit({ type: 'checkpoint', step: state.step, dir });
    lastSaved = state.step;
  };

  let reason: 'budget' | 'signal' | 'wallclock' = 'budget';
  while (state.step < job.stopAtStep) {
    if (terminating) {
      reason = 'signal';
      break;
    }
    if ((Date.now() - startedAt) / 1000 > job.wallClockSeconds) {
      reason = 'wallclock';
      break;
    }
    const metrics = await runEpoch(job.stage, cfg, models, state, rng, sampler, () => emit({ type: 'heartbeat' }));
    state.step += 1;
    state.lastMetrics = metrics;
    if (metrics.reward !== undefined) state.rewardHistory.push({ step: state.step, reward: metrics.reward });
    emit({ type: 'progress', step: state.step, metrics });
    if (state.step % job.saveEvery === 0) save();
  }
  if (lastSaved !== state.step) save();
  emit({ type: 'done', step: state.step, reason });
  await Promise.all([generator.close(), ...detectors.map((d) => d.detector.close()), alignment?.scorer.close()]);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const kind =
      err instanceof TrainerFailure
        ? err.kind
        : err instanceof RangeError && /allocation failed|out of memory/i.test(err.message)
          ? 'OutOfMemory'
          : 'Crash';
    emit({ type: 'error', kind, message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);
