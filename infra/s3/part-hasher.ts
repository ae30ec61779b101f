/**
 * A sha256 over a file's parts, computed on a worker thread, with the part buffers shared between the two threads.
 *
 * Why: on the event loop, hashing a 16 MiB part blocks every socket for ~12 ms, so ranged GETs stalled while the
 * previous parts were hashed and a download ran at a third of what the sockets deliver (bench:checkpoint). Here the
 * event loop only copies bytes into a slot and posts "slot n, length k"; the worker hashes slots in the order they
 * are posted, while the next parts travel and the file system writes the slot from the thread pool.
 *
 * The slots are the whole of the transfer's part memory: `slots × partSize` bytes, allocated once.
 */
import { Worker } from 'node:worker_threads';

// Plain CommonJS run with `eval`, so the worker starts without the TypeScript loader the parent may run under.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hash = createHash('sha256');
let slots = [];
parentPort.on('message', (m) => {
  if (m.slots !== undefined) slots = m.slots;
  else if (m.digest === true) parentPort.postMessage({ digest: hash.digest('hex') });
  else {
    hash.update(new Uint8Array(slots[m.slot], 0, m.length));
    parentPort.postMessage({ hashed: m.slot });
  }
});
`;

/** Part buffers in shared memory plus the worker that hashes them in posting order. */
export class PartHasher {
  private readonly worker: Worker;
  private readonly buffers: Buffer[];
  private readonly free: number[];
  private readonly waitingForSlot: Array<(slot: number) => void> = [];
  /** Per slot, the resolver of its pending `hash` call. */
  private readonly hashing = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private digestWaiter: { resolve: (hex: string) => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;

  /** Starts the worker with `slots` shared buffers of `partSize` bytes each. */
  constructor(partSize: number, slots: number) {
    const shared = Array.from({ length: slots }, () => new SharedArrayBuffer(partSize));
    this.buffers = shared.map((sab) => Buffer.from(sab));
    this.free = shared.map((_, i) => i);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.worker.on('message', (m: { hashed?: number; digest?: string }) => {
      if (m.digest !== undefined) {
        this.digestWaiter?.resolve(m.digest);
        this.digestWaiter = null;
      } else if (m.hashed !== undefined) {
        const waiter = this.hashing.get(m.hashed);
        this.hashing.delete(m.hashed);
        waiter?.resolve();
      }
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`sha256 worker exited (code ${code})`)));
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

  /** Hashes the first `length` bytes of `slot` after everything posted before it; resolves when that is done. */
  async hash(slot: number, length: number): Promise<void> {
    if (this.failure !== null) throw this.failure;
    await new Promise<void>((resolve, reject) => {
      this.hashing.set(slot, { resolve, reject });
      this.worker.postMessage({ slot, length });
    });
  }

  /** The hex sha256 of every part hashed so far, in posting order. Call once, after the last `hash`. */
  async digest(): Promise<string> {
    if (this.failure !== null) throw this.failure;
    return await new Promise<string>((resolve, reject) => {
      this.digestWaiter = { resolve, reject };
      this.worker.postMessage({ digest: true });
    });
  }

  /** Stops the worker; pending calls fail. */
  async close(): Promise<void> {
    this.failure ??= new Error('sha256 worker closed');
    await this.worker.terminate();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.hashing.values()) waiter.reject(this.failure);
    this.hashing.clear();
    this.digestWaiter?.reject(this.failure);
    this.digestWaiter = null;
  }
}
