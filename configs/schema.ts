/**
 * The run config: one YAML file describes where Temporal and the object store are, which workers exist, the
 * three GRPO stages and their trainers, the reward, RealBench and the judge.
 *
 * Units are in the field names or the JSDoc. Unknown keys are errors. Secrets never appear in the text: a
 * `SecretRef` names an environment variable or a file, resolved only on the worker or CLI that needs it, so the
 * config (and so every workflow history it enters) carries no secret values.
 */
import { z } from 'zod';
import { bool, describeKind, describeValue, int, num, oneOf, positive, secretStrict, str, strict } from './fields';
import { isPlainEnvName } from './plain-env';

/** An environment variable name; a wrong value is described by kind only (it may be a secret pasted by mistake). */
const envName = z
  .string({ error: (iss) => `expected an environment variable name, got ${describeKind(iss.input)}` })
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, {
    error: (iss) => `expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*), got ${describeKind(iss.input)}`,
  });

const SECRET_REF_TEXT = '{ env: NAME } or { file: path } (secrets never go in the config text)';

/** Where a secret comes from: `{ env: NAME }` or `{ file: path }` (relative paths: to the config file's folder). */
export const SecretRefSchema = secretStrict(
  { env: envName.optional(), file: str('a file path').optional() },
  SECRET_REF_TEXT,
).refine((v) => (v.env === undefined) !== (v.file === undefined), {
  error: 'expected exactly one of env or file (secrets never go in the config text)',
});
export type SecretRef = z.infer<typeof SecretRefSchema>;

/**
 * A URL that may sit in a history: it must not carry credentials (`user:pass@`), which are secrets; the value is
 * never echoed in an error.
 */
const url = () =>
  z
    .url({ error: (iss) => `expected an http(s) URL, got ${describeValue(iss.input)}` })
    .refine((u) => !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(u), {
      error: 'expected a URL without user:password@ (credentials are secrets: use an { env } or { file } field)',
    });

/**
 * One environment variable of an external trainer. A plain string is allowed only for names known not to hold
 * secrets (configs/plain-env.ts: WANDB_MODE, NCCL_*, …); any other value is `{ env: NAME }` / `{ file: path }`
 * (resolved by the supervisor that launches the trainer, never written to a job spec or a history) or an explicit
 * `{ plain: value }` that declares the value non-secret.
 */
export const TrainerEnvValueSchema = z.union(
  [z.string().max(4096), secretStrict({ plain: z.string().max(4096) }, SECRET_REF_TEXT), SecretRefSchema],
  { error: (iss) => `expected a string, { plain: value }, { env: NAME } or { file: path }, got ${describeKind(iss.input)}` },
);
export type TrainerEnvValue = z.infer<typeof TrainerEnvValueSchema>;

const TrainerEnvSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, { error: 'expected an environment variable name' }),
    TrainerEnvValueSchema,
  )
  .superRefine((env, ctx) => {
    for (const [name, value] of Object.entries(env)) {
      if (typeof value === 'string' && !isPlainEnvName(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `${name} may hold a secret: expected { env: NAME } or { file: path } (or { plain: value } if it is not secret), got ${describeKind(value)}`,
        });
      }
    }
  });

export const TemporalSchema = strict({
  /** host:port of the frontend. @default 127.0.0.1:7233 (env REALGEN_TEMPORAL_ADDRESS overrides) */
  address: str('host:port').default('127.0.0.1:7233'),
  /** @default default */
  namespace: str().default('default'),
  /** mTLS to the frontend; off for the embedded dev server. */
  tls: strict({
    enabled: bool().default(false),
    serverName: str().optional(),
    serverRootCaCertFile: str().optional(),
    clientCertFile: str().optional(),
    clientKeyFile: str().optional(),
  })
    .refine((t) => !t.enabled || (t.clientCertFile !== undefined) === (t.clientKeyFile !== undefined), {
      error: 'expected clientCertFile and clientKeyFile together',
    })
    .prefault({}),
});

export const StorageSchema = strict({
  /** S3 endpoint URL. @default http://127.0.0.1:9000 (env REALGEN_S3_ENDPOINT overrides) */
  endpoint: url().default('http://127.0.0.1:9000'),
  /** @default us-east-1 */
  region: str().default('us-east-1'),
  /** Bucket holding every artifact of the runs. @default realgen */
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
      error: (iss) => `expected an S3 bucket name (3-63 of a-z 0-9 . -), got ${describeValue(iss.input)}`,
    })
    .default('realgen'),
  /** Path-style addressing (MinIO, most on-prem S3). @default true */
  pathStyle: bool().default(true),
  credentials: strict({ accessKeyId: SecretRefSchema, secretAccessKey: SecretRefSchema }),
  /** Multipart part size in MiB; bounds upload memory. @default 16 */
  partSizeMiB: int(5, 5120).default(16),
  /**
   * Sign request payloads (sha256 per part) over plain HTTP, as minio-js does by default. Off: integrity comes from
   * the sha256 of every file in its manifest, checked on download; signing costs a second hash on both ends.
   * @default false
   */
  signPayload: bool().default(false),
  /**
   * Checksum sent with every multipart part and checked by the store before it accepts the part: `crc32`
   * (`x-amz-checksum-crc32`: MinIO, AWS S3 and other stores with S3's additional checksums), or `none` for a store
   * that refuses the header. With `none`, a part corrupted on its way is only found at the next download or deep
   * verify. @default crc32
   */
  partChecksum: oneOf(['crc32', 'none']).default('crc32'),
});

export const TaskQueuesSchema = strict({
  /** Queue served by GPU-bound workers (trainers, generation, detector scoring). @default realgen-gpu */
  gpu: str().default('realgen-gpu'),
  /** Queue served by CPU workers (workflows, storage, judging, reports). @default realgen-cpu */
  cpu: str().default('realgen-cpu'),
});

export const WorkersSchema = strict({
  gpu: strict({
    /** GPU ids this worker owns; empty means CPU-only slots (realgen-mini). @default [] */
    gpuIds: z.array(int(0)).default([]),
    /** GPUs given to one trainer; slots = floor(gpuIds / gpusPerTrainer), or `cpuSlots` when gpuIds is empty. @default 1 */
    gpusPerTrainer: int(1).default(1),
    /** Concurrent trainers when there are no GPUs. @default 1 */
    cpuSlots: int(1).default(1),
    /** Seconds a stopping worker waits for trainers to flush a checkpoint (Temporal's default is 0). @default 120 */
    shutdownGraceSeconds: int(1).default(120),
    /**
     * Seconds without a heartbeat before Temporal declares a trainer segment's worker lost and retries it elsewhere.
     * The supervisor heartbeats every few seconds whatever the trainer does, so this only bounds how long a dead
     * worker goes unnoticed. @default 10
     */
    heartbeatTimeoutSeconds: int(3).default(10),
  }).prefault({}),
  cpu: strict({
    /** Concurrent CPU activities per worker. @default 4 */
    maxConcurrentActivities: int(1).default(4),
  }).prefault({}),
});

const DetectorRefSchema = strict({
  /** Unique detector name, the reward key. */
  name: str(),
  /** Path of the detector manifest JSON (relative: to the config file's folder). */
  manifest: str('a file path'),
  /** Weight in the combined advantage. @default 1 */
  weight: num(0).default(1),
});

export const RewardSchema = strict({
  /** Reward detectors (never the held-out one). */
  detectors: z.array(DetectorRefSchema).min(1, { error: 'expected at least one reward detector' }),
  /** Text-alignment term (LongCLIP's role). */
  alignment: strict({ manifest: str('a file path'), weight: num(0).default(1) }).optional(),
  /** The reward service trainers call over HTTP. */
  service: strict({
    /** host:port to bind; loopback unless told otherwise. @default 127.0.0.1:18080 */
    listen: str('host:port').default('127.0.0.1:18080'),
    /** GPU reserved for reward models (paper: GPU 7). */
    gpuId: int(0).optional(),
    /** Largest batch one inference call takes. @default 32 */
    maxBatch: int(1).default(32),
    /** Milliseconds a partial batch waits for more images. @default 5 */
    maxWaitMs: int(0).default(5),
    /** Optional bearer token file. */
    tokenFile: str('a file path').optional(),
  }).prefault({}),
});

const AdvantageSchema = strict({
  /** `group`: z-score within each prompt's group (official main config); `global`: std over the batch. @default group */
  std: oneOf(['group', 'global']).default('group'),
  /** Added to the std before dividing. @default 1e-4 */
  eps: positive().default(1e-4),
  /** Clip of the combined advantage. @default 5 */
  clip: positive().default(5),
});

export const GrpoSchema = strict({
  /** Images per prompt (paper: 21). */
  groupSize: int(2),
  /** Prompts sampled per epoch (paper: 24). */
  promptsPerEpoch: int(1),
  /** Samples per optimizer micro-batch, per rank (paper stage 2: 3); torch stage 1: rewrites per LM micro-batch (also the render batch). */
  batchSize: int(1),
  /** Adam learning rate (paper: 1e-4). */
  learningRate: positive(0, 1),
  /** KL coefficient β (paper guard config: 4e-4). */
  klBeta: num(0),
  /** KL flavour: velocity MSE (guard) or the Gaussian mean KL (fusion). @default velocity-mse */
  klMode: oneOf(['velocity-mse', 'mean-kl']).default('velocity-mse'),
  /** PPO clip range ε on the ratio (paper guard: 2e-6). */
  clipRange: positive(0, 1),
  /** GRPO-Guard ratio normalisation. @default true */
  ratioNorm: bool().default(true),
  /** Sampling steps per image (paper: 28). */
  samplingSteps: int(1, 1000),
  /** SDE noise level a (paper: 0.9). */
  noiseLevel: num(0, 10),
  /** SDE steps trained per trajectory and where the window may start. */
  sdeWindow: strict({ size: int(1), startMin: int(0).default(0), startMax: int(0) })
    .refine((w) => w.startMin <= w.startMax, { error: 'expected startMin ≤ startMax' })
    .optional(),
  /**
   * LoRA of the production trainers (paper: r 64, α 128). The torch trainer's default when absent: r 8 / α 16 for
   * the `mini` family, r 64 / α 128 for `flux`.
   */
  lora: strict({
    rank: int(1),
    alpha: positive(),
    /** peft `init_lora_weights` (torch trainer): `gaussian` (the official scripts') or peft's `default`. @default gaussian */
    init: oneOf(['gaussian', 'default']).optional(),
    /**
     * Torch trainer, stage 1 only: the LM LoRA's peft `target_modules` (elsewhere an error: the diffusion LoRA's are
     * `trainer.loraTargets`). @default q/k/v/o/gate/up/down_proj (Qwen2/Qwen3 projections)
     */
    targets: z.array(str('a module name')).min(1, { error: 'expected at least one module name' }).optional(),
  }).optional(),
  /**
   * Built-in trainer, stages 2/3: the adapter trained. `per-pixel` = VelocityAdapter (A ψ, 589,824 parameters);
   * `filters` = FilterAdapter (per-channel coefficients of fixed filters of the predicted clean image, 864 parameters,
   * weight-shared across pixels). No schema default (configs without it keep their digest). @default per-pixel
   */
  adapter: oneOf(['per-pixel', 'filters']).optional(),
  /**
   * Built-in trainer: common random numbers within a group (one initial noise per prompt group), so the group's
   * images differ only by the actions being trained (stage-1 descriptors, stage-2 SDE noise). @default false
   */
  commonNoise: bool().optional(),
  // The fields below are read by the torch trainer only. They have no schema default (the trainer applies the
  // documented one), so configs without them keep their digest.
  /**
   * Micro-batches (of `batchSize` samples, each with all SDE-window steps) per optimizer step (torch trainer;
   * official `gradient_accumulation_steps`, paper 12). @default 1
   */
  gradientAccumulationSteps: int(1).optional(),
  /** Passes over one step's samples (torch trainer; official `num_inner_epochs`). @default 1 */
  innerEpochs: int(1).optional(),
  /** Linear learning-rate warm-up, in optimizer steps (torch trainer). @default 0 */
  lrWarmupSteps: int(0).optional(),
  /** Time shift of the σ schedule, `sigmaSchedule(steps, shift)` (torch trainer). Default when absent: 1 (mini), 3 (flux). */
  sigmaShift: positive().optional(),
  /** FLUX guidance embedding (torch trainer, flux family; paper 3.5). @default 3.5 */
  guidance: num(0).optional(),
  /**
   * EMA of the LoRA weights (torch trainer; official rule: decay min((1+k)/(10+k), decay), updated every N optimizer
   * steps; checkpoints then hold the EMA weights). Absent: off. Paper: 0.9 every 8.
   */
  ema: strict({
    /** Upper bound of the EMA decay, in [0, 1). @default 0.9 */
    decay: num(0, 0.999999).default(0.9),
    /** Optimizer steps between EMA updates. @default 8 */
    everyOptimizerSteps: int(1).default(8),
  }).optional(),
  adam: strict({
    beta1: num(0, 0.999999).default(0.9),
    beta2: num(0, 0.999999).default(0.999),
    eps: positive().default(1e-8),
    weightDecay: num(0).default(1e-4),
  }).prefault({}),
  /** Gradient-norm clip. @default 1 */
  gradClipNorm: positive().default(1),
  advantage: AdvantageSchema.prefault({}),
});

/** lm_settings.py's defaults of the well-formed length, for the minWords ≤ maxWords check. */
const LM_DEFAULT_MIN_WORDS = 3;
const LM_DEFAULT_MAX_WORDS = 220;
/**
 * The prompt-optimizer LM of the torch trainer's stages 1 and 3 (trainers/torch/realgen_torch/lm_settings.py reads
 * it; the field names and defaults are that file's). No schema defaults: the trainer applies the documented ones, so
 * there is one authority for them and a config keeps its digest whatever they become.
 */
export const LmSchema = strict({
  /**
   * Local causal-LM folder in the Hugging Face layout (config.json, safetensors, tokenizer), relative to the config
   * file's folder; nothing is downloaded (paper: Qwen3-4B-Instruct-2507).
   */
  pretrained: str('a folder path'),
  /** The rewriting instruction (the system turn). @default realgen_torch/rewrite.py DEFAULT_SYSTEM_PROMPT */
  systemPrompt: str('a non-empty string')
    .refine((v) => v.trim().length > 0, { error: 'expected a non-empty string, got only spaces' })
    .optional(),
  /** The user prompt is cut to this many tokens. @default 256 */
  maxPromptTokens: int(1).optional(),
  /** Rewrite budget in tokens; a rewrite with no end of turn within it is malformed (`truncated`). @default 320 */
  maxNewTokens: int(1).optional(),
  /** Sampling temperature, also used in the GRPO log-probs. @default 1 */
  temperature: positive().optional(),
  /** Top-k sampling; 0 is off. @default 0 */
  topK: int(0).optional(),
  /** Fewest whitespace-separated words of a well-formed rewrite. @default 3 */
  minWords: int(0).optional(),
  /** Most words of a well-formed rewrite. @default 220 */
  maxWords: int(1).optional(),
  /**
   * Text sent with the image to the reward service for the alignment term: the `original` prompt (a rewrite cannot
   * raise alignment by describing whatever the generator drew) or the `rewrite`. @default original
   */
  alignTo: oneOf(['original', 'rewrite']).optional(),
  /** Reward on every key of a malformed rewrite (not rendered, not scored). @default -1 */
  malformedReward: num().optional(),
}).refine((lm) => (lm.minWords ?? LM_DEFAULT_MIN_WORDS) <= (lm.maxWords ?? LM_DEFAULT_MAX_WORDS), {
  error: (iss) => {
    const lm = iss.input as { minWords?: number; maxWords?: number };
    return `expected minWords ≤ maxWords, got ${lm.minWords ?? LM_DEFAULT_MIN_WORDS} > ${lm.maxWords ?? LM_DEFAULT_MAX_WORDS}`;
  },
});
export type LmConfig = z.output<typeof LmSchema>;

/**
 * The LM's optimisation in the torch trainer's stage 3 (stage 1 reads the same fields from its `grpo`; stage 3's
 * `grpo` is the diffusion model's). No schema defaults (lm_settings.py applies them).
 */
export const LmGrpoSchema = strict({
  /** AdamW learning rate of the LM LoRA. */
  learningRate: positive(0, 1),
  /** Linear warm-up, in optimizer steps. @default 0 */
  lrWarmupSteps: int(0).optional(),
  /** ε of the clipped ratio. @default 0.2 */
  clipRange: positive().optional(),
  /** β of the per-token KL to the frozen LM. @default 0.04 */
  klBeta: num(0).optional(),
  /** Rewrites per forward/backward micro-batch. @default 4 */
  batchSize: int(1).optional(),
  /** Passes (one optimizer step each) over a step's rewrites. @default 1 */
  innerEpochs: int(1).optional(),
  /** The LM LoRA. @default rank 16, alpha 2·rank, targets q/k/v/o/gate/up/down_proj (Qwen2/Qwen3 projections) */
  lora: strict({
    rank: int(1).optional(),
    alpha: positive().optional(),
    targets: z.array(str('a module name')).min(1, { error: 'expected at least one module name' }).optional(),
  }).optional(),
  /** @default beta1 0.9, beta2 0.999, eps 1e-8, weightDecay 0 */
  adam: strict({
    beta1: num(0, 0.999999).optional(),
    beta2: num(0, 0.999999).optional(),
    eps: positive().optional(),
    weightDecay: num(0).optional(),
  }).optional(),
  /** Gradient-norm clip. @default 1 */
  gradClipNorm: positive().optional(),
});

const BuiltinTrainerSchema = strict({ backend: z.literal('builtin') });
const ExternalTrainerSchema = strict({
  backend: z.literal('external'),
  /** Executable to launch, e.g. `accelerate`. Placeholders: {gpus} {numProcesses} {outputDir} {resumePath} {maxSteps} {port}. */
  command: str(),
  args: z.array(z.string().max(4096)).default([]),
  /** Environment of the trainer: plain strings only for known non-secret names, secrets as `{ env }` / `{ file }`. */
  env: TrainerEnvSchema.default({}),
  workingDir: str('a folder path').optional(),
  /** Processes launched (paper: 7). @default 1 */
  numProcesses: int(1).default(1),
  /** Folder glob, under the output dir, of the trainer's checkpoints. @default checkpoints/checkpoint-* */
  checkpointGlob: str().default('checkpoints/checkpoint-*'),
  /** A file whose presence marks a checkpoint folder complete; otherwise `quietPeriodSeconds` of no change. */
  completeMarker: str().optional(),
  /** Seconds without size or mtime change before a folder counts as complete. @default 30 */
  quietPeriodSeconds: int(1).default(30),
  /** Argument template appended when resuming, e.g. `--config.train.lora_path={resumePath}/lora`. */
  resumeArg: str().optional(),
  /** Trainer steps per our step (the upstream counter counts optimizer steps). @default 1 */
  stepsPerEpoch: int(1).default(1),
  /** Regexes over stdout lines whose named groups become metrics. */
  metricPatterns: z.array(str()).default([]),
});

/**
 * The native PyTorch Flow-GRPO trainer (trainers/torch, package `realgen_torch`), run from the torch venv that
 * scripts/install-python.sh installs. Defaults marked "per family" are filled in by the trainer (they depend on
 * `family`), the others here.
 */
const TorchTrainerSchema = strict({
  backend: z.literal('torch'),
  /** Model family: `mini` (realgen-mini UNet, CPU) or `flux` (diffusers FLUX transformer + VAE). @default mini */
  family: oneOf(['mini', 'flux']).default('mini'),
  /** Local FLUX.1-dev folder in the diffusers layout (relative: to the config file's folder); nothing is downloaded. Required for flux unless tiny. */
  pretrained: str('a folder path').optional(),
  /** flux only: a tiny random-weight FLUX-architecture model (tests, CPU). @default false */
  tiny: bool().default(false),
  /**
   * Ranks launched with torchrun on this node (paper: 7); promptsPerEpoch × groupSize must be a multiple. Stages 1 and
   * 3 (prompt optimizer) run in one process: 1 there. @default 1
   */
  numProcesses: int(1).default(1),
  /** `auto`/`bf16`: bf16 autocast where the GPU supports it, fp32 otherwise; `fp32`: always fp32. @default auto */
  precision: oneOf(['auto', 'bf16', 'fp32']).default('auto'),
  /** torch intra-op threads per rank. @default 1 */
  threads: int(1).default(1),
  /** `torch.use_deterministic_algorithms` (warn-only on CUDA); resumes are bit-exact on CPU with it. @default true */
  deterministic: bool().default(true),
  /** Image size in pixels, a multiple of 16 (flux; mini is fixed at 64). Default per family: 1024 (flux). */
  resolution: int(16)
    .refine((v) => v % 16 === 0, { error: 'expected a multiple of 16' })
    .optional(),
  /** T5 tokens per prompt (flux). @default 512 */
  maxSequenceLength: int(1).default(512),
  /** Which RealBench caption the trainer trains on. @default prompt */
  promptField: oneOf(['prompt', 'long_prompt']).default('prompt'),
  /** peft `target_modules` (module-name suffixes). Default per family (flux: the paper's attention + FF list). */
  loraTargets: z.array(str('a module name')).min(1, { error: 'expected at least one module name' }).optional(),
  /** torch.distributed collective timeout in seconds. @default 1800 */
  distTimeoutSeconds: positive().default(1800),
  /**
   * The prompt-optimizer LM: required in stages 1 and 3, refused in stage 2 (which trains on the RealBench text and
   * never runs the LM, so a block there would only look as if it did something).
   */
  lm: LmSchema.optional(),
  /** How the ranks reach the reward service (`realgen serve reward`). */
  reward: strict({
    /** Service URL. Default: `http://` + reward.service.listen; env REALGEN_REWARD_URL overrides. */
    url: url().optional(),
    /** Environment variable holding the bearer token (fallback: reward.service.tokenFile). @default REALGEN_REWARD_TOKEN */
    tokenEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
        error: (iss) => `expected an environment variable name, got ${describeValue(iss.input)}`,
      })
      .default('REALGEN_REWARD_TOKEN'),
    /** Seconds per request. @default 120 */
    timeoutSeconds: positive().default(120),
    /** Retries on connection errors and 5xx (backoff 1 s doubling, up to 30 s). @default 5 */
    retries: int(0).default(5),
    /** A rank's request body above this many MiB is split into consecutive requests (the service refuses > 64 MiB). @default 48 */
    maxRequestMiB: positive().default(48),
  }).prefault({}),
});

export const StageSchema = strict({
  /** 1: prompt optimizer (generator frozen); 2: diffusion model (optimizer frozen); 3: joint. */
  stage: int(1, 3),
  /** Skip this stage (its input is then the previous stage's result or `startFrom`). @default true */
  enabled: bool().default(true),
  /** Start from this committed checkpoint prefix instead of the previous stage's output. */
  startFrom: str('a checkpoint prefix').optional(),
  trainer: z.discriminatedUnion('backend', [BuiltinTrainerSchema, ExternalTrainerSchema, TorchTrainerSchema], {
    error: (iss) =>
      iss.code === 'invalid_union'
        ? `expected backend to be one of builtin | external | torch`
        : `expected a mapping, got ${describeValue(iss.input)}`,
  }),
  /**
   * Torch stage 1: the LM's optimisation (learningRate, clipRange, klBeta, batchSize, innerEpochs, lrWarmupSteps,
   * lora, adam, gradClipNorm) besides the rollout (groupSize, promptsPerEpoch, samplingSteps = render steps,
   * sigmaShift, guidance, advantage); `sdeWindow` is not needed (the frozen generator renders with the ODE).
   * Otherwise the diffusion model's.
   */
  grpo: GrpoSchema,
  /** Torch stage 3 only (required there): the LM's optimisation; `grpo` stays the diffusion model's. */
  lmGrpo: LmGrpoSchema.optional(),
  budget: strict({
    /** Total steps (one step = one GRPO epoch: promptsPerEpoch × groupSize samples, then updates). */
    maxSteps: int(1),
    /** Steps per segment (one trainer process lifetime). */
    segmentSteps: int(1),
    /** Wall-clock cap of one segment in minutes. @default 720 */
    segmentMinutes: positive().default(720),
  }),
  /** Commit a checkpoint every N steps (paper: 10). */
  saveEvery: int(1),
  /** Evaluate every N steps; a multiple of saveEvery (paper: 10). */
  evalEvery: int(1),
  /** Seconds without a progress line before the trainer counts as stalled. @default 600 */
  stallTimeoutSeconds: int(1).default(600),
})
  .refine((s) => s.evalEvery % s.saveEvery === 0, {
    error: 'expected evalEvery to be a multiple of saveEvery',
    path: ['evalEvery'],
  })
  .superRefine(torchStageProblems);

/**
 * What the torch trainer needs of a stage beyond the field types (it would refuse the job with ConfigInvalid), and
 * the prompt-optimizer fields where nothing would read them (refused rather than silently ignored).
 */
function torchStageProblems(
  s: { stage: number; trainer: { backend: string }; grpo: z.output<typeof GrpoSchema>; lmGrpo?: unknown },
  ctx: z.RefinementCtx,
): void {
  const promptOptimizer = s.trainer.backend === 'torch' && (s.stage === 1 || s.stage === 3);
  if (s.lmGrpo !== undefined && !(s.trainer.backend === 'torch' && s.stage === 3)) {
    ctx.addIssue({
      code: 'custom',
      path: ['lmGrpo'],
      message:
        `only the torch trainer's stage 3 reads lmGrpo (stage 1's LM optimisation is in grpo); ` +
        `got it on a ${s.trainer.backend} stage ${s.stage}`,
    });
  }
  if (s.grpo.lora?.targets !== undefined && !(s.trainer.backend === 'torch' && s.stage === 1)) {
    ctx.addIssue({
      code: 'custom',
      path: ['grpo', 'lora', 'targets'],
      message:
        "only the torch trainer's stage 1 reads grpo.lora.targets (the LM LoRA's; stage 3: lmGrpo.lora.targets, " +
        "the diffusion LoRA's: trainer.loraTargets)",
    });
  }
  if (s.trainer.backend !== 'torch') return;
  const t = s.trainer as z.output<typeof TorchTrainerSchema>;
  const g = s.grpo;
  if (promptOptimizer && t.lm === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['trainer', 'lm'],
      message: `expected {pretrained: <local causal-LM folder>, …}: the torch trainer's stage ${s.stage} trains the prompt-optimizer LM`,
    });
  }
  if (!promptOptimizer && t.lm !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['trainer', 'lm'],
      message: 'stage 2 does not run the prompt-optimizer LM (it trains on the RealBench text): remove trainer.lm',
    });
  }
  if (s.stage === 3 && s.lmGrpo === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['lmGrpo'],
      message:
        "expected {learningRate, …}: the torch trainer's stage 3 optimises the LM with lmGrpo (grpo is the diffusion model's)",
    });
  }
  if (promptOptimizer && t.numProcesses !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['trainer', 'numProcesses'],
      message: `expected 1: the torch trainer runs stage ${s.stage} (prompt optimizer) in one process, got ${t.numProcesses}`,
    });
  }
  if (g.sdeWindow === undefined) {
    // Stage 1 renders the frozen generator with the ODE: no SDE window is trained there.
    if (s.stage !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['grpo', 'sdeWindow'],
        message: `expected {size, startMin, startMax}: the torch trainer's stage ${s.stage} trains an SDE window`,
      });
    }
  } else if (g.sdeWindow.startMax + g.sdeWindow.size > g.samplingSteps) {
    ctx.addIssue({
      code: 'custom',
      path: ['grpo', 'sdeWindow'],
      message: `expected startMax + size ≤ samplingSteps (${g.samplingSteps}), got ${g.sdeWindow.startMax + g.sdeWindow.size}`,
    });
  }
  const samples = g.promptsPerEpoch * g.groupSize;
  if (samples % t.numProcesses !== 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['trainer', 'numProcesses'],
      message: `expected a divisor of promptsPerEpoch × groupSize (${samples}), got ${t.numProcesses}`,
    });
  }
  if (t.family === 'flux' && !t.tiny && t.pretrained === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['trainer', 'pretrained'],
      message: 'expected a local FLUX.1-dev folder (family flux, not tiny)',
    });
  }
  if (t.family === 'mini' && (t.tiny || t.pretrained !== undefined || t.resolution !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['trainer', 'family'],
      message: 'tiny, pretrained and resolution are flux-only (mini is fixed at 64 px)',
    });
  }
}

/** lm_settings.py's LM LoRA defaults (rank, and the Qwen2/Qwen3 projections it targets). */
const LM_DEFAULT_LORA_RANK = 16;
const LM_DEFAULT_LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
/** The torch trainer's diffusion LoRA rank when `grpo.lora` is absent, per family (settings.py). */
const DIFFUSION_DEFAULT_LORA_RANK = { mini: 8, flux: 64 } as const;

/**
 * A torch stage 3 starts its LoRAs from the earlier stages' checkpoints (the pipeline passes them as initDirs):
 * the LM LoRA from stage 1's, the diffusion LoRA from stage 2's, loaded weight by weight. A different rank fails
 * there (a size mismatch) and different LM targets load only partly, after the earlier stages have trained; so the
 * shapes are checked here, between enabled torch stages.
 */
function jointWarmStartProblems(
  stages: ReadonlyArray<z.output<typeof StageSchema>>,
): Array<{ path: Array<string | number>; message: string }> {
  const [s1, s2, s3] = stages;
  if (s3?.trainer.backend !== 'torch' || !s3.enabled) return [];
  const problems: Array<{ path: Array<string | number>; message: string }> = [];
  if (s1?.trainer.backend === 'torch' && s1.enabled && s3.lmGrpo !== undefined) {
    const rank1 = s1.grpo.lora?.rank ?? LM_DEFAULT_LORA_RANK;
    const rank3 = s3.lmGrpo.lora?.rank ?? LM_DEFAULT_LORA_RANK;
    if (rank1 !== rank3) {
      problems.push({
        path: ['stages', 2, 'lmGrpo', 'lora', 'rank'],
        message: `expected ${rank1} (stage 1's grpo.lora.rank: stage 3 starts from stage 1's LM LoRA), got ${rank3}`,
      });
    }
    const targets1 = [...(s1.grpo.lora?.targets ?? LM_DEFAULT_LORA_TARGETS)].sort().join(', ');
    const targets3 = [...(s3.lmGrpo.lora?.targets ?? LM_DEFAULT_LORA_TARGETS)].sort().join(', ');
    if (targets1 !== targets3) {
      problems.push({
        path: ['stages', 2, 'lmGrpo', 'lora', 'targets'],
        message: `expected stage 1's LM LoRA targets (${targets1}): stage 3 starts from its LoRA, got ${targets3}`,
      });
    }
  }
  if (s2?.trainer.backend === 'torch' && s2.enabled) {
    if (s2.trainer.family !== s3.trainer.family) {
      problems.push({
        path: ['stages', 2, 'trainer', 'family'],
        message: `expected ${s2.trainer.family} (stage 2's: stage 3 starts from its diffusion LoRA), got ${s3.trainer.family}`,
      });
    } else {
      const rank2 = s2.grpo.lora?.rank ?? DIFFUSION_DEFAULT_LORA_RANK[s2.trainer.family];
      const rank3 = s3.grpo.lora?.rank ?? DIFFUSION_DEFAULT_LORA_RANK[s3.trainer.family];
      if (rank2 !== rank3) {
        problems.push({
          path: ['stages', 2, 'grpo', 'lora', 'rank'],
          message: `expected ${rank2} (stage 2's grpo.lora.rank: stage 3 starts from its diffusion LoRA), got ${rank3}`,
        });
      }
    }
  }
  return problems;
}

export const RealBenchSchema = strict({
  /** Folder with realbench.jsonl and images/, or an S3 prefix holding the same. */
  source: strict({ dir: str('a folder path').optional(), s3Prefix: str('an S3 prefix').optional() }).refine(
    (s) => (s.dir === undefined) !== (s.s3Prefix === undefined),
    { error: 'expected exactly one of dir or s3Prefix' },
  ),
  /** Suite evaluated on each checkpoint. @default heldout */
  suite: oneOf(['full', 'heldout', 'smoke']).default('heldout'),
  /** Prompts per evaluation shard. @default 16 */
  shardSize: int(1).default(16),
});

const LocalJudgeSchema = strict({
  backend: z.literal('local'),
  /** Detector whose P(real) decides the local judge (must be an evaluation detector). */
  detector: str(),
  /**
   * Calibrated judge temperature T (dimensionless, > 0): each order prefers an image with probability
   * sigmoid((logit P_A − logit P_B) / T), one seeded draw per pair and order, so the arena is not saturated by a
   * detector that separates real from generated almost perfectly. Absent: the higher P(real) always wins.
   * realgen-mini: 4.82 (base generator ≈ 25% against the real photos; docs/evaluation.md).
   */
  temperature: positive().optional(),
});
const OpenAiJudgeSchema = strict({
  backend: z.literal('openai'),
  /** OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1. */
  baseUrl: url(),
  model: str(),
  apiKey: SecretRefSchema,
  /** Requests in flight. @default 4 */
  concurrency: int(1).default(4),
  /** Seconds per request. @default 120 */
  timeoutSeconds: positive().default(120),
  /** Retries per comparison. @default 5 */
  maxRetries: int(0).default(5),
});

export const EvaluationSchema = strict({
  /** Every detector scored in evaluations, reward and held-out ones. */
  detectors: z.array(DetectorRefSchema.extend({ heldout: bool().default(false) })).min(1, {
    error: 'expected at least one evaluation detector',
  }),
  judge: z.discriminatedUnion('backend', [LocalJudgeSchema, OpenAiJudgeSchema], {
    error: (iss) =>
      iss.code === 'invalid_union'
        ? `expected backend to be one of local | openai`
        : `expected a mapping, got ${describeKind(iss.input)}`,
  }),
});

export const ModelsSchema = strict({
  /** Generator description (realgen-mini: models/realgen-mini/generator.json). */
  generator: str('a file path'),
  /** Descriptor slots of the stage-1 policy. */
  descriptors: str('a file path').optional(),
  tokenizer: str('a file path').optional(),
  /**
   * Extra folders model files may come from, besides the config's folder and the repository's `models/`
   * (configs/model-paths.ts); a model path outside every root is refused.
   */
  roots: z.array(str('a folder path')).optional(),
});

/** Events a notification target can subscribe to. */
export const NOTIFICATION_EVENTS = [
  'run-failed',
  'run-finished',
  'stage-finished',
  'evaluation-finished',
  'worker-lost',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

const NotificationTargetSchema = strict({
  /** Target name, shown in logs and delivery failures. */
  name: str(),
  /** `json`: the generic JSON event body; `slack`: a Slack-compatible `{ text }` incoming-webhook body. @default json */
  format: oneOf(['json', 'slack']).default('json'),
  /** The webhook URL: a secret (`{ env }` or `{ file }`), since webhook URLs usually embed a token. */
  url: SecretRefSchema,
  /** Events delivered to this target. @default every event */
  events: z
    .array(oneOf(NOTIFICATION_EVENTS))
    .min(1, { error: 'expected at least one event' })
    .default([...NOTIFICATION_EVENTS]),
});

export const NotificationsSchema = strict({
  /** Base URL of the dashboard (`realgen ui`); each message links `<dashboardUrl>/runs/<run>`. @default http://127.0.0.1:8080 */
  dashboardUrl: url().default('http://127.0.0.1:8080'),
  /** Webhook targets. @default [] (no notifications) */
  targets: z.array(NotificationTargetSchema).default([]),
  /** Longest wait between delivery retries, seconds (retries go on for `giveUpHours`). @default 300 */
  maxRetryIntervalSeconds: int(1).default(300),
  /** Hours after which an undeliverable message is given up (it stays in the delivery workflow's history). @default 72 */
  giveUpHours: positive().default(72),
  /** Seconds one delivery attempt may take (connect + response). @default 30 */
  timeoutSeconds: int(1).default(30),
});
export type NotificationsConfig = z.output<typeof NotificationsSchema>;

export const RunConfigSchema = strict({
  /** Config format version. */
  version: z.literal(1, { error: (iss) => `expected 1, got ${describeValue(iss.input)}` }),
  /** Preset name, shown in reports. */
  name: str(),
  /** Seed of every random stream of the run. @default 42 */
  seed: int(0, 2 ** 31 - 1).default(42),
  /**
   * Let a stage resume from a checkpoint trained with a different config (digest); the change is recorded in the
   * next checkpoint's manifest. Without it such a resume fails. No default, so configs without it keep their digest.
   */
  allowConfigChange: bool().optional(),
  temporal: TemporalSchema.prefault({}),
  storage: StorageSchema,
  taskQueues: TaskQueuesSchema.prefault({}),
  workers: WorkersSchema.prefault({}),
  models: ModelsSchema,
  reward: RewardSchema,
  stages: z.array(StageSchema).min(1, { error: 'expected at least one stage' }).max(3),
  realbench: RealBenchSchema,
  evaluation: EvaluationSchema,
  /**
   * Priority of this run's GPU work (trainer segments and its evaluations' generation and scoring) on the GPU task
   * queue: 1 is served first, 5 last (Temporal task-queue priority keys); runs of equal priority share the GPU slots
   * fairly (the run id is the fairness key). `realgen run --priority N` overrides it. @default 3
   */
  priority: int(1, 5).default(3),
  /** Price of one GPU slot-hour (any currency), to show cost next to GPU-hours; absent = hours only. */
  costPerGpuHour: num(0).optional(),
  /** Webhook notifications of run, stage and evaluation events. @default no targets */
  notifications: NotificationsSchema.prefault({}),
}).superRefine((cfg, ctx) => {
  cfg.stages.forEach((s, i) => {
    if (s.stage !== i + 1)
      ctx.addIssue({
        code: 'custom',
        path: ['stages', i, 'stage'],
        message: `expected ${i + 1} (stages are listed in order), got ${s.stage}`,
      });
  });
  const heldout = new Set(cfg.evaluation.detectors.filter((d) => d.heldout).map((d) => d.name));
  cfg.reward.detectors.forEach((d, i) => {
    if (heldout.has(d.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['reward', 'detectors', i, 'name'],
        message: `"${d.name}" is a held-out detector; it may only be used in evaluation`,
      });
    }
  });
  const names = new Set(cfg.evaluation.detectors.map((d) => d.name));
  if (cfg.evaluation.judge.backend === 'local' && !names.has(cfg.evaluation.judge.detector)) {
    ctx.addIssue({
      code: 'custom',
      path: ['evaluation', 'judge', 'detector'],
      message: `expected one of the evaluation detectors (${[...names].join(' | ')}), got "${cfg.evaluation.judge.detector}"`,
    });
  }
  cfg.stages.forEach((s, i) => {
    if (s.trainer.backend === 'torch' && s.trainer.family === 'mini' && cfg.models.tokenizer === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['models', 'tokenizer'],
        message: `expected the realgen-mini tokenizer file (stages[${i}] trains the mini family with the torch trainer)`,
      });
    }
  });
  for (const issue of jointWarmStartProblems(cfg.stages)) ctx.addIssue({ code: 'custom', ...issue });
  const gpu = cfg.workers.gpu;
  if (gpu.gpuIds.length > 0 && gpu.gpuIds.length < gpu.gpusPerTrainer) {
    ctx.addIssue({
      code: 'custom',
      path: ['workers', 'gpu', 'gpusPerTrainer'],
      message: `expected at most ${gpu.gpuIds.length} (the number of gpuIds), got ${gpu.gpusPerTrainer}`,
    });
  }
});

/** The config as written (defaults optional). */
export type RunConfigInput = z.input<typeof RunConfigSchema>;
/** The config after validation, with every default filled in. */
export type RunConfig = z.output<typeof RunConfigSchema>;
export type StageConfig = RunConfig['stages'][number];
/** A stage's `backend: torch` trainer block, defaults filled in. */
export type TorchTrainerConfig = Extract<StageConfig['trainer'], { backend: 'torch' }>;
