/**
 * Checkpoint store on the S3 API: streamed, hashed uploads committed by a manifest written last, deep
 * verification, and resolution of the newest valid checkpoint.
 *
 * Memory stays bounded for any file size: files move in parts of `partSize` bytes with a few parts in flight
 * (parallel-transfer.ts), hashed once, in order, on the way up and on the way down.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from 'minio';
import {
  MANIFEST_FILE,
  MANIFEST_SCHEMA,
  checkpointPrefix,
  checkpointsPrefix,
  parseManifest,
  serializeManifest,
  stepFromPrefix,
  type CheckpointManifest,
  type CheckpointRef,
  type ManifestFile,
} from '../../contracts/checkpoint-manifest';
import type { SkippedCheckpoint, VerifyMode } from '../../contracts/checkpoint-manifest';
import { realgenFailure } from '../../contracts/failures';
import { assertObjectKey } from '../../contracts/object-key';
import { downloadFile, uploadFile, type TransferOptions, type TransferResult } from './parallel-transfer';

/** Where log lines about skipped or repaired checkpoints go. */
export interface StoreLogger {
  info(message: string, attrs?: Record<string, unknown>): void;
  warn(message: string, attrs?: Record<string, unknown>): void;
}

/** A local file to put into a checkpoint. */
export interface CheckpointFileInput {
  /** Path inside the checkpoint (validated like an object key). */
  path: string;
  /** Where the bytes are on local disk. */
  localPath: string;
}

export interface CommitCheckpointInput {
  runId: string;
  stage: string;
  step: number;
  files: CheckpointFileInput[];
  configDigest: string;
  parent: { step: number; manifestSha256: string } | null;
  producer: { name: string; version: string };
  meta?: Record<string, unknown>;
  /** Called after each file is uploaded, for heartbeats. */
  onFileUploaded?: (file: ManifestFile, index: number, total: number) => void;
}

export type { SkippedCheckpoint, VerifyMode };

/** Result of a verification: ok, or the first problem found. */
export type VerifyResult = { ok: true } | { ok: false; reason: string };

export interface CheckpointStoreOptions {
  client: Client;
  /**
   * Part size, parts in flight and part checksum of file transfers.
   * @default the client's part size (storage.partSizeMiB), 4, crc32
   */
  transfer?: Partial<TransferOptions>;
  bucket: string;
  logger?: StoreLogger;
  /** Clock for manifest timestamps; injectable for tests. */
  now?: () => Date;
}

const silentLogger: StoreLogger = { info: () => undefined, warn: () => undefined };

/** S3 error codes that mean "no such object" rather than "the store is down". */
function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchObject';
}

/** Wraps transport and server errors as the retryable `StorageUnavailable` failure. */
function storageFailure(action: string, err: unknown, hint = ''): Error {
  const e = err as { code?: string; message?: string };
  return realgenFailure('StorageUnavailable', `${action}: ${e.code ?? ''} ${e.message ?? String(err)}`.trim() + hint);
}

/**
 * S3 error codes with which a store may refuse a part's `x-amz-checksum-crc32` header it does not implement (a
 * mismatch, `XAmzContentChecksumMismatch`, is a corrupted part instead, and is retried as it is).
 */
const CHECKSUM_REFUSED = new Set(['NotImplemented', 'InvalidRequest', 'InvalidArgument', 'UnsupportedHeader']);

/** Reads a whole (small) object into memory. */
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Checkpoint store bound to one bucket. */
export class CheckpointStore {
  readonly client: Client;
  readonly bucket: string;
  private readonly logger: StoreLogger;
  private readonly now: () => Date;
  private readonly transfer: TransferOptions;

  constructor(options: CheckpointStoreOptions) {
    this.transfer = {
      partSize: options.transfer?.partSize ?? options.client.partSize,
      concurrency: options.transfer?.concurrency ?? 4,
      partChecksum: options.transfer?.partChecksum ?? 'crc32',
    };
    this.client = options.client;
    this.bucket = options.bucket;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? (() => new Date());
  }

  /** Creates the bucket when it does not exist yet. */
  async ensureBucket(region = 'us-east-1'): Promise<void> {
    try {
      if (!(await this.client.bucketExists(this.bucket))) await this.client.makeBucket(this.bucket, region);
    } catch (err) {
      if ((err as { code?: string }).code === 'BucketAlreadyOwnedByYou') return;
      throw storageFailure(`creating bucket ${this.bucket}`, err);
    }
  }

  /**
   * Streams one local file to `key`, hashing it on the way; returns its size and sha256.
   * The size is checked against the file's size before the upload, so a file that changes underneath is refused.
   */
  async putFile(key: string, localPath: string): Promise<{ size: number; sha256: string }> {
    assertObjectKey(key);
    let expected: number;
    try {
      expected = (await stat(localPath)).size;
    } catch (err) {
      throw realgenFailure('ConfigInvalid', `checkpoint file ${localPath} cannot be read: ${(err as Error).message}`);
    }
    let sent: TransferResult;
    try {
      sent = await uploadFile(this.client, this.bucket, key, localPath, this.transfer);
    } catch (err) {
      if (err instanceof Error && err.message.includes('changed during upload'))
        throw realgenFailure('CheckpointCorrupt', err.message);
      const refused = this.transfer.partChecksum === 'crc32' && CHECKSUM_REFUSED.has((err as { code?: string }).code ?? '');
      const hint = refused
        ? ' (every part carries x-amz-checksum-crc32; if this store does not implement it, set storage.partChecksum: none)'
        : '';
      throw storageFailure(`uploading ${key}`, err, hint);
    }
    if (sent.size !== expected) {
      throw realgenFailure('CheckpointCorrupt', `${localPath} changed during upload (${sent.size} of ${expected} bytes)`);
    }
    return sent;
  }

  /**
   * Commits a checkpoint: uploads every file, then writes `manifest.json` last.
   *
   * Idempotent: when the same checkpoint (same files and hashes) is already committed — a retried attempt that
   * died after the manifest write — the existing one is returned. A different committed checkpoint at the same
   * step is a `CheckpointConflict`.
   */
  async commitCheckpoint(input: CommitCheckpointInput): Promise<{ ref: CheckpointRef; manifest: CheckpointManifest }> {
    const prefix = checkpointPrefix(input.runId, input.stage, input.step);
    const paths = new Set<string>();
    for (const file of input.files) {
      assertObjectKey(prefix + file.path, `checkpoint file path ${JSON.stringify(file.path)} gives a key that`);
      if (file.path === MANIFEST_FILE || file.path.endsWith('/')) {
        throw realgenFailure('InvalidObjectKey', `checkpoint file path ${JSON.stringify(file.path)} is reserved or a folder`);
      }
      if (paths.has(file.path)) throw realgenFailure('InvalidObjectKey', `checkpoint file path ${file.path} given twice`);
      paths.add(file.path);
    }
    if (input.files.length === 0) throw realgenFailure('ConfigInvalid', 'a checkpoint needs at least one file');

    const files: ManifestFile[] = [];
    for (const [i, file] of input.files.entries()) {
      const { size, sha256 } = await this.putFile(prefix + file.path, file.localPath);
      const entry = { path: file.path, size, sha256 };
      files.push(entry);
      input.onFileUploaded?.(entry, i, input.files.length);
    }
    const manifest: CheckpointManifest = {
      schema: MANIFEST_SCHEMA,
      runId: input.runId,
      stage: input.stage,
      step: input.step,
      files,
      configDigest: input.configDigest,
      parent: input.parent,
      createdAt: this.now().toISOString(),
      producer: { ...input.producer, host: hostname() },
      ...(input.meta === undefined ? {} : { meta: input.meta }),
    };

    const existing = await this.tryReadManifest(prefix);
    if (existing !== null && 'manifest' in existing) {
      if (sameFiles(existing.manifest.files, files)) {
        this.logger.info('checkpoint already committed; returning it', { prefix });
        return { ref: this.refFor(existing.manifest, prefix, existing.sha256), manifest: existing.manifest };
      }
      throw realgenFailure('CheckpointConflict', `a different checkpoint is already committed at ${prefix}`);
    }

    const bytes = serializeManifest(manifest);
    try {
      await this.client.putObject(this.bucket, prefix + MANIFEST_FILE, bytes, bytes.length, {
        'Content-Type': 'application/json',
      });
    } catch (err) {
      throw storageFailure(`writing ${prefix}${MANIFEST_FILE}`, err);
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    return { ref: this.refFor(manifest, prefix, sha), manifest };
  }

  /** Reads and validates the manifest under `prefix`; null when there is none. */
  async tryReadManifest(prefix: string): Promise<{ manifest: CheckpointManifest; sha256: string } | { invalid: string } | null> {
    let bytes: Buffer;
    try {
      bytes = await readAll(await this.client.getObject(this.bucket, prefix + MANIFEST_FILE));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageFailure(`reading ${prefix}${MANIFEST_FILE}`, err);
    }
    try {
      const manifest = parseManifest(bytes);
      return { manifest, sha256: createHash('sha256').update(bytes).digest('hex') };
    } catch (err) {
      return { invalid: (err as Error).message };
    }
  }

  /** Reads the manifest of a checkpoint; a missing or invalid one is a `CheckpointNotFound` / `CheckpointCorrupt`. */
  async readManifest(prefix: string): Promise<{ manifest: CheckpointManifest; sha256: string }> {
    assertObjectKey(prefix);
    const found = await this.tryReadManifest(prefix);
    if (found === null) throw realgenFailure('CheckpointNotFound', `no ${MANIFEST_FILE} under ${prefix}`);
    if ('invalid' in found) throw realgenFailure('CheckpointCorrupt', `${prefix}${MANIFEST_FILE}: ${found.invalid}`);
    return found;
  }

  /**
   * Verifies the objects of a manifest. Shallow: each object exists with the recorded size. Deep: each object is
   * streamed back and re-hashed.
   */
  async verify(prefix: string, manifest: CheckpointManifest, mode: VerifyMode = 'deep'): Promise<VerifyResult> {
    for (const file of manifest.files) {
      const key = prefix + file.path;
      if (mode === 'shallow') {
        try {
          const st = await this.client.statObject(this.bucket, key);
          if (st.size !== file.size) return { ok: false, reason: `${file.path}: size ${st.size}, manifest says ${file.size}` };
        } catch (err) {
          if (isNotFound(err)) return { ok: false, reason: `${file.path}: object missing` };
          throw storageFailure(`checking ${key}`, err);
        }
        continue;
      }
      let seen: TransferResult;
      try {
        // The size first: a ranged read of the manifest's size would not notice extra bytes.
        const st = await this.client.statObject(this.bucket, key);
        if (st.size !== file.size) return { ok: false, reason: `${file.path}: ${st.size} bytes, manifest says ${file.size}` };
        seen = await downloadFile(this.client, this.bucket, key, file.size, null, this.transfer);
      } catch (err) {
        if (isNotFound(err)) return { ok: false, reason: `${file.path}: object missing` };
        throw storageFailure(`reading ${key}`, err);
      }
      const sha = seen.sha256;
      if (sha !== file.sha256) return { ok: false, reason: `${file.path}: sha256 ${sha}, manifest says ${file.sha256}` };
    }
    return { ok: true };
  }

  /** Lists the steps that have a checkpoint folder (committed or not), newest first. */
  async listCheckpointSteps(runId: string, stage: string): Promise<number[]> {
    const parent = checkpointsPrefix(runId, stage);
    const steps: number[] = [];
    try {
      const stream = this.client.listObjectsV2(this.bucket, parent, false);
      for await (const item of stream as AsyncIterable<{ prefix?: string; name?: string }>) {
        if (item.prefix === undefined) continue;
        const step = stepFromPrefix(item.prefix, parent);
        if (step !== null) steps.push(step);
      }
    } catch (err) {
      if ((err as { code?: string }).code === 'NoSuchBucket') return [];
      throw storageFailure(`listing ${parent}`, err);
    }
    return steps.sort((a, b) => b - a);
  }

  /**
   * The newest checkpoint of `runId`/`stage` whose manifest parses and whose objects verify. Half-written
   * checkpoints (no manifest) and corrupted ones are skipped, each with a logged reason.
   */
  async latestValidCheckpoint(
    runId: string,
    stage: string,
    options: { mode?: VerifyMode; maxStep?: number } = {},
  ): Promise<{ ref: CheckpointRef | null; manifest: CheckpointManifest | null; skipped: SkippedCheckpoint[] }> {
    const skipped: SkippedCheckpoint[] = [];
    for (const step of await this.listCheckpointSteps(runId, stage)) {
      if (options.maxStep !== undefined && step > options.maxStep) continue;
      const prefix = checkpointPrefix(runId, stage, step);
      const found = await this.tryReadManifest(prefix);
      let reason: string | null = null;
      if (found === null) reason = `half-written: no ${MANIFEST_FILE}`;
      else if ('invalid' in found) reason = `unreadable manifest: ${found.invalid}`;
      else if (found.manifest.runId !== runId || found.manifest.stage !== stage || found.manifest.step !== step) {
        reason = 'manifest names another run, stage or step';
      } else {
        const result = await this.verify(prefix, found.manifest, options.mode ?? 'deep');
        if (!result.ok) reason = `corrupt: ${result.reason}`;
        else return { ref: this.refFor(found.manifest, prefix, found.sha256), manifest: found.manifest, skipped };
      }
      skipped.push({ step, reason });
      this.logger.warn(`skipping checkpoint ${prefix}: ${reason}`, { runId, stage, step });
    }
    return { ref: null, manifest: null, skipped };
  }

  /**
   * Downloads every file of a checkpoint into `destDir`, verifying size and sha256 of each; a mismatch removes the
   * partial file and fails with `CheckpointCorrupt`. Files are written under a temporary name and renamed.
   */
  async downloadCheckpoint(ref: CheckpointRef, destDir: string): Promise<CheckpointManifest> {
    const { manifest, sha256 } = await this.readManifest(ref.prefix);
    if (sha256 !== ref.manifestSha256) {
      throw realgenFailure('CheckpointCorrupt', `manifest of ${ref.prefix} changed since it was referenced`);
    }
    for (const file of manifest.files) {
      const target = path.join(destDir, ...file.path.split('/'));
      const partial = `${target}.partial`;
      await mkdir(path.dirname(target), { recursive: true });
      const key = ref.prefix + file.path;
      let got: TransferResult;
      try {
        const st = await this.client.statObject(this.bucket, key);
        if (st.size !== file.size) {
          throw realgenFailure('CheckpointCorrupt', `${key} has ${st.size} bytes, its manifest says ${file.size}`);
        }
        got = await downloadFile(this.client, this.bucket, key, file.size, partial, this.transfer);
      } catch (err) {
        await rm(partial, { force: true });
        if (isNotFound(err)) throw realgenFailure('CheckpointCorrupt', `${key} is missing`);
        if (err instanceof ApplicationFailure) throw err;
        throw storageFailure(`downloading ${key}`, err);
      }
      if (got.size !== file.size || got.sha256 !== file.sha256) {
        await rm(partial, { force: true });
        throw realgenFailure('CheckpointCorrupt', `${key} does not match its manifest (sha256 ${got.sha256})`);
      }
      await rename(partial, target);
    }
    return manifest;
  }

  private refFor(manifest: CheckpointManifest, prefix: string, manifestSha256: string): CheckpointRef {
    return { bucket: this.bucket, runId: manifest.runId, stage: manifest.stage, step: manifest.step, prefix, manifestSha256 };
  }
}

function sameFiles(a: ManifestFile[], b: ManifestFile[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((f, i) => f.path === b[i]?.path && f.size === b[i]?.size && f.sha256 === b[i]?.sha256);
}
