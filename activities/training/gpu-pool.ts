/**
 * The GPU slots a GPU worker owns. Each trainer gets `perTrainer` GPUs (CUDA_VISIBLE_DEVICES); without GPUs the
 * worker has `cpuSlots` CPU-only slots. The worker's activity concurrency equals the slot count, so `acquire`
 * normally succeeds at once; it still queues rather than oversubscribe.
 */
export class GpuPool {
  private readonly free: number[][];
  private readonly waiters: Array<(ids: number[]) => void> = [];
  /** Number of slots in total. */
  readonly size: number;

  constructor(gpuIds: number[], perTrainer: number, cpuSlots: number) {
    if (gpuIds.length === 0) {
      this.free = Array.from({ length: cpuSlots }, () => []);
    } else {
      const slots = Math.floor(gpuIds.length / perTrainer);
      if (slots < 1) throw new Error(`workers.gpu: ${gpuIds.length} GPUs cannot hold a trainer of ${perTrainer} GPUs`);
      this.free = Array.from({ length: slots }, (_, i) => gpuIds.slice(i * perTrainer, (i + 1) * perTrainer));
    }
    this.size = this.free.length;
  }

  async acquire(): Promise<number[]> {
    const slot = this.free.shift();
    if (slot !== undefined) return slot;
    return await new Promise((resolve) => this.waiters.push(resolve));
  }

  release(ids: number[]): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(ids);
    else this.free.push(ids);
  }
}
