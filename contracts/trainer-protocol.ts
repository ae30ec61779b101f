/**
 * The trainer protocol (docs/trainer-protocol.md): how the supervisor starts a trainer process and what the
 * trainer reports back. A trainer is any process that
 *  - is started with `--job <job-spec.json>` (also in env REALGEN_JOB_SPEC), CUDA_VISIBLE_DEVICES set to its GPUs;
 *  - writes JSON lines on stdout (other lines are treated as log output);
 *  - writes each checkpoint as a complete local folder, then reports it (the supervisor uploads and commits it);
 *  - on SIGTERM, writes a checkpoint of its last completed step, reports it, and exits 0 within the grace period.
 */
import { z } from 'zod';

export const PROTOCOL = 'realgen-trainer/1';

/** The job spec file a trainer is started with. Paths are absolute and local to the trainer's machine. */
export const JobSpecSchema = z.strictObject({
  protocol: z.literal(PROTOCOL),
  runId: z.string().min(1),
  /** Stage number 1..3 and its folder name (`stage-<n>`). */
  stage: z.number().int().min(1).max(3),
  stageKey: z.string().min(1),
  /** Segment index within the stage and the activity attempt, for logs. */
  segment: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  /** The run config (secret references only, never secret values) and where its relative paths resolve. */
  config: z.record(z.string(), z.unknown()),
  configBaseDir: z.string().min(1),
  configDigest: z.string().regex(/^[0-9a-f]{64}$/),
  /** Step the trainer resumes at (the resumed checkpoint's step, or 0). */
  startStep: z.number().int().nonnegative(),
  /** Stop (checkpoint and exit) once this step is completed: the segment's end. */
  stopAtStep: z.number().int().positive(),
  /** Wall-clock cap of the segment in seconds: checkpoint and exit when it passes. */
  wallClockSeconds: z.number().positive(),
  /** Commit a checkpoint every N steps. */
  saveEvery: z.number().int().positive(),
  /** Folder of the checkpoint to resume from (downloaded and verified by the supervisor), or null for a fresh start. */
  resumeDir: z.string().nullable(),
  /** Folders of earlier stages' final checkpoints this stage builds on (e.g. the stage-1 policy for stage 2). */
  initDirs: z.record(z.string(), z.string()),
  /** Where the trainer writes checkpoint folders (`<outputDir>/checkpoint-<step>/`). */
  outputDir: z.string().min(1),
  /** GPUs assigned (also in CUDA_VISIBLE_DEVICES); empty on CPU. */
  gpuIds: z.array(z.number().int().nonnegative()),
  seed: z.number().int().nonnegative(),
});
export type JobSpec = z.infer<typeof JobSpecSchema>;

/** Error kinds a trainer may report; the supervisor maps them to failure types. */
export const TRAINER_ERROR_KINDS = ['ConfigInvalid', 'CheckpointCorrupt', 'OutOfMemory', 'DatasetMissing', 'Crash'] as const;

export type TrainerErrorKind = (typeof TRAINER_ERROR_KINDS)[number];

/** One JSON line of trainer output. */
export const TrainerEventSchema = z.discriminatedUnion('type', [
  /** At least once per step; `metrics` are small numbers (rewards, clip fraction, KL). */
  z.strictObject({
    type: z.literal('progress'),
    step: z.number().int().nonnegative(),
    metrics: z.record(z.string(), z.number()).optional(),
  }),
  /** Liveness during long silent phases (loading, writing a checkpoint). */
  z.strictObject({ type: z.literal('heartbeat'), note: z.string().optional() }),
  /** A complete checkpoint folder for `step`; the supervisor uploads and commits it. */
  z.strictObject({ type: z.literal('checkpoint'), step: z.number().int().nonnegative(), dir: z.string().min(1) }),
  /** The trainer finished its segment (budget reached, signal, wall clock). */
  z.strictObject({
    type: z.literal('done'),
    step: z.number().int().nonnegative(),
    reason: z.enum(['budget', 'signal', 'wallclock']),
  }),
  /** A failure with a machine-readable kind; the process exits non-zero after it. */
  z.strictObject({ type: z.literal('error'), kind: z.enum(TRAINER_ERROR_KINDS), message: z.string() }),
]);
export type TrainerEvent = z.infer<typeof TrainerEventSchema>;

/** Parses one stdout line: an event, or null when the line is plain log output. */
export function parseTrainerLine(line: string): TrainerEvent | { invalid: string } | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return null;
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    return null;
  }
  if (typeof json !== 'object' || json === null || !('type' in json)) return null;
  const parsed = TrainerEventSchema.safeParse(json);
  if (!parsed.success)
    return { invalid: `${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  return parsed.data;
}
