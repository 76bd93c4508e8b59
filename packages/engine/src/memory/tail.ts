import type { EventEmitter } from 'node:events';
import type { StoredEvent } from '@tokencast/protocol';
import type { Tail, TailListener } from '../contracts.js';
import { TailCursors } from '../tail-core.js';

/**
 * The memory engine's live read path (redis/tail.ts's counterpart): the store's in-process bus
 * rings `ev:<id>` after each append, as append.lua rings the Redis doorbell, and the tail reads
 * the generation's log after its cursor. Delivery is the shared core's (tail-core.ts).
 */
export class MemoryTail implements Tail {
  private readonly cursors: TailCursors;
  /** Generation id → its bus listener. */
  private readonly handlers = new Map<string, () => void>();

  constructor(
    private readonly bus: EventEmitter,
    private readonly eventsOf: (id: string) => StoredEvent[],
    onEvents: TailListener,
  ) {
    this.cursors = new TailCursors(onEvents);
  }

  get size(): number {
    return this.cursors.size;
  }

  add(id: string, afterOffset: number): void {
    this.remove(id);
    this.cursors.follow(id, afterOffset);
    // Reads from the log, not from the emitted batch: an append that lands between add() and
    // the catch-up below must not make the cursor jump over the events before it.
    const handler = () => {
      const cursor = this.cursors.cursor(id);
      if (cursor === undefined) return;
      // Offsets are 1-based and dense, so offset k sits at index k-1.
      this.cursors.deliver(id, this.eventsOf(id).slice(cursor));
      if (!this.cursors.has(id)) this.remove(id); // ended
    };
    this.handlers.set(id, handler);
    this.bus.on(`ev:${id}`, handler);
    // Events written before add() but after afterOffset: deliver them first, asynchronously,
    // as the Redis tail would.
    queueMicrotask(() => {
      if (this.handlers.get(id) === handler) handler();
    });
  }

  remove(id: string): void {
    const handler = this.handlers.get(id);
    if (handler) this.bus.off(`ev:${id}`, handler);
    this.handlers.delete(id);
    this.cursors.unfollow(id);
  }

  async close(): Promise<void> {
    for (const id of [...this.handlers.keys()]) this.remove(id);
  }
}
