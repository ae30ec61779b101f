/**
 * The worker thread of a multi-part transfer: it takes a file's parts in order from shared slots, hashes them into
 * one sha256 and, for a download, appends each to the file, while the event loop moves the next parts over the
 * network.
 *
 * Why a worker: on the event loop, hashing a 16 MiB part blocks every socket for ~12 ms, so ranged GETs stalled while
 * the previous parts were hashed and a download ran at a third of what the sockets deliver (bench:checkpoint).
 *
 * Why the file is written through a 32 KiB buffer: on this VM, writing a part into the page cache straight from its
 * slot (one 16 MiB write, or 32 KiB writes walking the slot) cost ~3 CPU-seconds of kernel time per GiB, in the copy
 * into the page cache (perf: copy_folio_from_iter_atomic), against ~0.6–0.9 for MinIO's `mc`, which writes from a
 * 32 KiB buffer it reuses. Copying the part through a reused 32 KiB buffer first (a user-space copy, ~0.1 s per GiB)
 * brought our kernel time to ~0.9 s per GiB in every order of the runs (probes in docs/performance.md). Why the
 * kernel's copy from a freshly received slot is slow here is not known.
 *
 * The slots are the whole of the transfer's part memory: `slots × partSize` bytes, allocated once.
 */
import { Worker } from 'node:worker_threads';

/** Bytes per write(2) of a download, through one reused buffer (see above). */
export const WRITE_CHUNK_BYTES = 32 * 1024;

// Plain CommonJS run with `eval`, so the worker starts without the TypeScript loader the parent may run under.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { writeSync } = require('node:fs');
const hash = createHash('sha256');
const bounce = Buffer.allocUnsafeSlow(workerData.chunk);
let slots = [];
parentPort.on('message', (m) => {
  if (m.slots !== undefined) slots = m.slots;
  else if (m.digest === true) parentPort.postMessage({ digest: hash.digest('hex') });
  else {
    const part = Buffer.from(slots[m.slot], 0, m.length);
    hash.update(part);
    try {
      if (m.fd !== undefined) {
        for (let at = 0; at < part.length; ) {
          const n = part.copy(bounce, 0, at, Math.min(at + bounce.length, part.length));
          for (let done = 0; done < n; ) done += writeSync(m.fd, bounce, done, n - done, m.position + at + done);
          at += n;
        }
      }
      parentPort.postMessage({ done: m.slot });
    } catch (err) {
      parentPort.postMessage({ done: m.slot, error: String(err && err.message || err) });
    }
  }
});
`;

/** Where a download's part goes: the file descriptor (open for writing) and the byte offset. */
export interface PartWrite {
  fd: number;
  position: number;
}

/** Part buffers in shared memory plus the worker that hashes (and for downloads writes) them in posting order. */
export class PartWorker {
  private readonly worker: Worker;
  private readonly buffers: Buffer[];
  private readonly free: number[];
  private readonly waitingForSlot: Array<(slot: number) => void> = [];
  /** Per slot, the resolver of its pending `process` call. */
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private digestWaiter: { resolve: (hex: string) => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;

  /** Starts the worker with `slots` shared buffers of `partSize` bytes each. */
  constructor(partSize: number, slots: number) {
    const shared = Array.from({ length: slots }, () => new SharedArrayBuffer(partSize));
    this.buffers = shared.map((sab) => Buffer.from(sab));
    this.free = shared.map((_, i) => i);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { chunk: WRITE_CHUNK_BYTES } });
    this.worker.on('message', (m: { done?: number; error?: string; digest?: string }) => {
      if (m.digest !== undefined) {
        this.digestWaiter?.resolve(m.digest);
        this.digestWaiter = null;
      } else if (m.done !== undefined) {
        const waiter = this.pending.get(m.done);
        this.pending.delete(m.done);
        if (m.error === undefined) waiter?.resolve();
        else waiter?.reject(new Error(`writing a downloaded part: ${m.error}`));
      }
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`transfer worker exited (code ${code})`)));
    this.worker.postMessage({ slots: shared });
  }

  /** The shared buffer of `slot` (its full `partSize` bytes). */
  buffer(slot: number): Buffer {
    return this.buffers[slot] as Buffer;
  }

  /** A free slot; waits for one when all are taken. Waiters are served in call order. */
  async acquire(): Promise<number> {
    if (this.failure !== null) throw this.failure;
    const slot = this.free.shift();
    if (slot !== undefined) return slot;
    return await new Promise<number>((resolve) => this.waitingForSlot.push(resolve));
  }

  /** Gives `slot` back once nothing reads or writes its buffer any more. */
  release(slot: number): void {
    const next = this.waitingForSlot.shift();
    if (next !== undefined) next(slot);
    else this.free.push(slot);
  }

  /**
   * Hashes the first `length` bytes of `slot` after everything posted before it and, when `write` is given, writes
   * them to that file at that offset; resolves when both are done. A failed write rejects this call only (the hash
   * has taken the part already, so the transfer as a whole must fail).
   */
  async process(slot: number, length: number, write?: PartWrite): Promise<void> {
    if (this.failure !== null) throw this.failure;
    await new Promise<void>((resolve, reject) => {
      this.pending.set(slot, { resolve, reject });
      this.worker.postMessage({ slot, length, ...(write === undefined ? {} : { fd: write.fd, position: write.position }) });
    });
  }

  /** The hex sha256 of every part processed so far, in posting order. Call once, after the last `process`. */
  async digest(): Promise<string> {
    if (this.failure !== null) throw this.failure;
    return await new Promise<string>((resolve, reject) => {
      this.digestWaiter = { resolve, reject };
      this.worker.postMessage({ digest: true });
    });
  }

  /** Stops the worker; pending calls fail. */
  async close(): Promise<void> {
    this.failure ??= new Error('transfer worker closed');
    await this.worker.terminate();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.pending.values()) waiter.reject(this.failure);
    this.pending.clear();
    this.digestWaiter?.reject(this.failure);
    this.digestWaiter = null;
  }
}
