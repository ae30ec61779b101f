/**
 * Checkpoint activities: commit, resolve and verify checkpoints in the object store.
 * Built by a factory that takes its clients so workers wire real ones and tests wire their own.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { checkpointPrefix, type CheckpointRef } from '../contracts/checkpoint-manifest';
import type { CheckpointStore, SkippedCheckpoint, VerifyMode } from '../infra/s3/checkpoint-store';
import { realgenFailure } from '../contracts/failures';
import { heartbeat } from './heartbeat';

export interface CheckpointActivityDeps {
  store: CheckpointStore;
  /** Scratch folder for files being written before upload. */
  workDir: string;
  /** Producer name/version written into manifests. */
  producer: { name: string; version: string };
}

/** Input of `writeSmokeCheckpoint`. */
export interface WriteSmokeCheckpointInput {
  runId: string;
  stage: string;
  step: number;
  /** Bytes of the payload file; deterministic content derived from runId/stage/step. */
  sizeBytes: number;
  configDigest: string;
}

/** Input of `resolveLatestCheckpoint`. */
export interface ResolveLatestInput {
  runId: string;
  stage: string;
  mode?: VerifyMode;
}

/** Output of `resolveLatestCheckpoint`. */
export interface ResolveLatestOutput {
  ref: CheckpointRef | null;
  skipped: SkippedCheckpoint[];
}

/** Writes `size` deterministic bytes (a sha256 counter stream) to `file`, with bounded memory. */
export async function writeDeterministicFile(file: string, size: number, seed: string): Promise<void> {
  const out = createWriteStream(file);
  let written = 0;
  let counter = 0;
  const block = 1 << 20;
  while (written < size) {
    const n = Math.min(block, size - written);
    const chunk = Buffer.alloc(n);
    for (let off = 0; off < n; off += 32) {
      createHash('sha256')
        .update(`${seed}:${counter++}`)
        .digest()
        .copy(chunk, off, 0, Math.min(32, n - off));
    }
    if (!out.write(chunk)) await once(out, 'drain');
    written += n;
  }
  out.end();
  await once(out, 'finish');
}

export function createCheckpointActivities(deps: CheckpointActivityDeps) {
  return {
    /** Commits a small deterministic checkpoint (the smoke workflow's stand-in for a trainer). */
    async writeSmokeCheckpoint(input: WriteSmokeCheckpointInput): Promise<CheckpointRef> {
      await mkdir(deps.workDir, { recursive: true });
      const dir = await mkdtemp(path.join(deps.workDir, 'smoke-'));
      try {
        const payload = path.join(dir, 'weights.bin');
        await writeDeterministicFile(payload, input.sizeBytes, `${input.runId}/${input.stage}/${input.step}`);
        const stateFile = path.join(dir, 'state.json');
        await writeDeterministicJson(stateFile, { step: input.step, note: 'smoke checkpoint' });
        const { ref } = await deps.store.commitCheckpoint({
          runId: input.runId,
          stage: input.stage,
          step: input.step,
          files: [
            { path: 'weights.bin', localPath: payload },
            { path: 'state.json', localPath: stateFile },
          ],
          configDigest: input.configDigest,
          parent: null,
          producer: deps.producer,
          onFileUploaded: (file, i, total) => heartbeat({ uploaded: file.path, index: i, total }),
        });
        return ref;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },

    /** The newest checkpoint that verifies (deep by default), with the reasons others were skipped. */
    async resolveLatestCheckpoint(input: ResolveLatestInput): Promise<ResolveLatestOutput> {
      const { ref, skipped } = await deps.store.latestValidCheckpoint(input.runId, input.stage, { mode: input.mode ?? 'deep' });
      return { ref, skipped };
    },

    /** Re-hashes every object of `ref`; a mismatch is a non-retryable `CheckpointCorrupt`. */
    async verifyCheckpoint(ref: CheckpointRef): Promise<{ files: number; bytes: number }> {
      const { manifest, sha256 } = await deps.store.readManifest(ref.prefix);
      if (sha256 !== ref.manifestSha256) throw realgenFailure('CheckpointCorrupt', `manifest of ${ref.prefix} changed`);
      heartbeat({ verifying: ref.prefix });
      const result = await deps.store.verify(ref.prefix, manifest, 'deep');
      if (!result.ok) throw realgenFailure('CheckpointCorrupt', `${ref.prefix}: ${result.reason}`, { prefix: ref.prefix });
      return { files: manifest.files.length, bytes: manifest.files.reduce((a, f) => a + f.size, 0) };
    },
  };
}

async function writeDeterministicJson(file: string, value: unknown): Promise<void> {
  const out = createWriteStream(file);
  out.end(`${JSON.stringify(value)}\n`);
  await once(out, 'finish');
}

export type CheckpointActivities = ReturnType<typeof createCheckpointActivities>;

/** A committed checkpoint found by `listCommittedCheckpoints`, in discovery order. */
export interface DiscoveredCheckpoint {
  ref: CheckpointRef;
}

/**
 * Committed checkpoints (manifest present, parses, matches its location; shallow-verified) under
 * `runs/<runId>/<stage>/checkpoints/`, with steps above `afterStep`, oldest first. Half-written folders are
 * skipped and found again on a later poll once their manifest lands.
 */
export function createCheckpointDiscovery(deps: { store: CheckpointStore }) {
  return {
    async listCommittedCheckpoints(input: { runId: string; stage: string; afterStep: number }): Promise<DiscoveredCheckpoint[]> {
      const out: DiscoveredCheckpoint[] = [];
      const steps = (await deps.store.listCheckpointSteps(input.runId, input.stage))
        .filter((s) => s > input.afterStep)
        .sort((a, b) => a - b);
      for (const step of steps) {
        const prefix = checkpointPrefix(input.runId, input.stage, step);
        const found = await deps.store.tryReadManifest(prefix);
        if (found === null || 'invalid' in found) continue;
        if (found.manifest.runId !== input.runId || found.manifest.stage !== input.stage || found.manifest.step !== step)
          continue;
        const verdict = await deps.store.verify(prefix, found.manifest, 'shallow');
        if (!verdict.ok) continue;
        out.push({
          ref: { bucket: deps.store.bucket, runId: input.runId, stage: input.stage, step, prefix, manifestSha256: found.sha256 },
        });
        heartbeat({ discovered: step });
      }
      return out;
    },
  };
}

export type CheckpointDiscoveryActivities = ReturnType<typeof createCheckpointDiscovery>;
