/**
 * A queue shared by several sources (HTTP requests) that hands items out round-robin by source, each source's
 * items in their own order. One source with 5000 items therefore delays another source's single item by at most
 * one item per other waiting source, instead of by 5000.
 */
export class FairQueue<T> {
  /** Sources with queued items, in service order; each source appears once. */
  private readonly order: Array<{ source: unknown; items: T[] }> = [];
  private readonly bySource = new Map<unknown, { source: unknown; items: T[] }>();
  private size = 0;

  /** Number of queued items over all sources. */
  get length(): number {
    return this.size;
  }

  /** Queues `item` behind the other items of `source`. */
  push(source: unknown, item: T): void {
    let lane = this.bySource.get(source);
    if (lane === undefined) {
      lane = { source, items: [] };
      this.bySource.set(source, lane);
      this.order.push(lane);
    }
    lane.items.push(item);
    this.size++;
  }

  /** The next item: the oldest of the source whose turn it is; that source then goes to the back. */
  shift(): T | undefined {
    const lane = this.order.shift();
    if (lane === undefined) return undefined;
    const item = lane.items.shift() as T;
    this.size--;
    if (lane.items.length > 0) this.order.push(lane);
    else this.bySource.delete(lane.source);
    return item;
  }

  /** The first queued item of every source (each source's oldest), for deadline checks. */
  heads(): T[] {
    return this.order.map((lane) => lane.items[0] as T);
  }
}
