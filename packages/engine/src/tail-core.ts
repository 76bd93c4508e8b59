import type { StoredEvent } from '@tokencast/protocol';
import type { TailListener } from './contracts.js';

/**
 * The delivery core every Tail shares (memory/tail.ts, redis/tail.ts, redis/cluster-tail.ts): a
 * cursor per followed generation, and the one rule that makes a tail exact. Events reach the
 * listener in order, exactly once, without a gap: a batch that does not continue the cursor
 * (it was read before the generation was re-added elsewhere, or the log lost entries) is
 * dropped, and the next read starts from the cursor again. A generation is dropped after its
 * end event: nothing follows it. How events are found (a bus, a doorbell, a blocking read) is
 * each tail's own business; what is delivered is decided here.
 */
export class TailCursors {
  /** Generation id → offset of the last event delivered (the next read starts after it). */
  private readonly at = new Map<string, number>();

  constructor(private readonly onEvents: TailListener) {}

  get size(): number {
    return this.at.size;
  }

  has(id: string): boolean {
    return this.at.has(id);
  }

  /** Offset of the last event delivered for `id`; undefined when not followed. */
  cursor(id: string): number | undefined {
    return this.at.get(id);
  }

  ids(): IterableIterator<string> {
    return this.at.keys();
  }

  follow(id: string, afterOffset: number): void {
    this.at.set(id, afterOffset);
  }

  unfollow(id: string): void {
    this.at.delete(id);
  }

  /**
   * Hands the listener the events that continue `id`'s cursor (`events` in offset order, as read
   * after it). Returns how many were delivered: 0 when not followed or when the first does not
   * continue the cursor.
   */
  deliver(id: string, events: readonly StoredEvent[]): number {
    const cursor = this.at.get(id);
    if (cursor === undefined) return 0; // removed while the read was in flight
    let n = 0;
    while (n < events.length && (events[n] as StoredEvent).offset === cursor + n + 1) n++;
    if (n === 0) return 0;
    const fresh = n === events.length ? [...events] : events.slice(0, n);
    const last = fresh[n - 1] as StoredEvent;
    if (last.kind === 'end') this.at.delete(id);
    else this.at.set(id, last.offset);
    this.onEvents(id, fresh);
    return n;
  }
}
