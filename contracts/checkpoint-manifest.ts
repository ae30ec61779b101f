/**
 * The checkpoint manifest: the single source of truth that a checkpoint exists.
 *
 * Layout: `runs/<runId>/<stage>/checkpoints/<step, 9 digits>/<files…>` with `manifest.json` written last.
 * Files without a manifest are a half-written checkpoint and are ignored by readers.
 */
import { z } from 'zod';
import { assertKeySegment, assertObjectKey, objectKeyProblem } from './object-key';

/** Steps are zero-padded so that lexical and numeric order agree in listings. */
export const STEP_DIGITS = 9;
export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_SCHEMA = 'realgen/checkpoint-manifest@1';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: 'expected a lowercase hex sha256 (64 characters)' });
const relativePath = z.string().superRefine((value, ctx) => {
  const problem = objectKeyProblem(value);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: `file path ${JSON.stringify(value)} ${problem}` });
  if (value.endsWith('/')) ctx.addIssue({ code: 'custom', message: `file path ${JSON.stringify(value)} ends with "/"` });
  if (value === MANIFEST_FILE) ctx.addIssue({ code: 'custom', message: `"${MANIFEST_FILE}" is reserved` });
});

/** One file of a checkpoint. */
export const ManifestFileSchema = z.strictObject({
  /** Path relative to the checkpoint prefix. */
  path: relativePath,
  /** Size in bytes. */
  size: z.number().int().nonnegative(),
  /** sha256 of the bytes, lowercase hex. */
  sha256: sha256Hex,
});

/** The manifest as stored in `manifest.json`. */
export const CheckpointManifestSchema = z.strictObject({
  schema: z.literal(MANIFEST_SCHEMA),
  runId: z.string().min(1),
  stage: z.string().min(1),
  step: z.number().int().nonnegative(),
  files: z.array(ManifestFileSchema).min(1),
  /** sha256 of the canonical run config the producer ran with. */
  configDigest: sha256Hex,
  /** The checkpoint this one was resumed from, if any. */
  parent: z.strictObject({ step: z.number().int().nonnegative(), manifestSha256: sha256Hex }).nullable(),
  /** ISO-8601 time at which the producer committed the checkpoint. */
  createdAt: z.iso.datetime(),
  producer: z.strictObject({ name: z.string().min(1), version: z.string().min(1), host: z.string().optional() }),
  /** Free-form, small JSON the producer wants to keep (step offset of an external trainer, metrics). */
  meta: z.record(z.string(), z.unknown()).optional(),
});
export type CheckpointManifest = z.infer<typeof CheckpointManifestSchema>;
export type ManifestFile = z.infer<typeof ManifestFileSchema>;

/** A reference to a committed checkpoint, small enough for workflow history and heartbeats. */
export interface CheckpointRef {
  bucket: string;
  runId: string;
  stage: string;
  step: number;
  /** Key prefix of the checkpoint, ending in "/". */
  prefix: string;
  /** sha256 of the stored manifest bytes: the checkpoint's identity (`eval/<sha>/<suite>`). */
  manifestSha256: string;
}

/** `runs/<runId>/<stage>/checkpoints/` */
export function checkpointsPrefix(runId: string, stage: string): string {
  assertKeySegment(runId, 'run id');
  assertKeySegment(stage, 'stage');
  return `runs/${runId}/${stage}/checkpoints/`;
}

/** Zero-pads a step to STEP_DIGITS digits. */
export function padStep(step: number): string {
  if (!Number.isSafeInteger(step) || step < 0 || step >= 10 ** STEP_DIGITS) {
    throw new RangeError(`step ${step} is not an integer in [0, ${10 ** STEP_DIGITS})`);
  }
  return String(step).padStart(STEP_DIGITS, '0');
}

/** `runs/<runId>/<stage>/checkpoints/<step>/` */
export function checkpointPrefix(runId: string, stage: string, step: number): string {
  return assertObjectKey(`${checkpointsPrefix(runId, stage)}${padStep(step)}/`);
}

/** Parses the step out of a checkpoint prefix listing entry, or null when it is not one. */
export function stepFromPrefix(prefix: string, parent: string): number | null {
  if (!prefix.startsWith(parent)) return null;
  const rest = prefix.slice(parent.length).replace(/\/$/, '');
  if (!new RegExp(`^\\d{${STEP_DIGITS}}$`).test(rest)) return null;
  return Number(rest);
}

/** Parses and validates manifest bytes; throws an Error whose message lists each problem with its path. */
export function parseManifest(bytes: Buffer | string): CheckpointManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString());
  } catch (err) {
    throw new Error(`manifest.json is not JSON: ${(err as Error).message}`);
  }
  const parsed = CheckpointManifestSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`manifest.json is invalid: ${lines.join('; ')}`);
  }
  const seen = new Set<string>();
  for (const file of parsed.data.files) {
    if (seen.has(file.path)) throw new Error(`manifest.json lists ${JSON.stringify(file.path)} twice`);
    seen.add(file.path);
  }
  return parsed.data;
}

/** Serialises a manifest deterministically (stable key order, trailing newline). */
export function serializeManifest(manifest: CheckpointManifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

/** Why a checkpoint candidate was passed over while resolving the latest one. */
export interface SkippedCheckpoint {
  step: number;
  reason: string;
}

export type VerifyMode = 'deep' | 'shallow';
