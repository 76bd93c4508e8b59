import { entryIdToOffset, type StoredEvent } from '@tokencast/protocol';
import type { Tail, TailListener } from '../contracts.js';
import { TailCursors } from '../tail-core.js';
import type { Ring } from './bell.js';
import { fieldsToEvent } from './codec.js';
import { pause } from './guarded-read.js';
import type { Keys } from './keys.js';

/*
 * What the two Redis tails share (tail.ts on one Redis, cluster-tail.ts on a Redis Cluster): both
 * wait on doorbells, then read the streams the bells named and deliver them through TailCursors.
 */

export type XReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/**
 * The events of one XREAD reply entry list that follow `cursor` without a gap (decoding stops at
 * the first entry that does not): the stream-entry half of TailCursors.deliver. Entries at or
 * before the cursor are skipped: the doorbell may have delivered them while the read was in flight.
 */
export function contiguousAfter(cursor: number, entries: readonly [id: string, fields: string[]][]): StoredEvent[] {
  const events: StoredEvent[] = [];
  let next = cursor + 1;
  for (const [entryId, fields] of entries) {
    const offset = entryIdToOffset(entryId);
    if (offset < next) continue;
    if (offset !== next) break;
    const ev = fieldsToEvent(offset, fields);
    if (!ev) break;
    events.push(ev);
    next += 1;
  }
  return events;
}

/**
 * Delivers an XREAD reply through the shared core (both Redis tails). Calls `more(id)` for a
 * stream whose reply was a full batch of `count` the cursor is now past: there may be more to read.
 */
export function deliverReply(core: TailCursors, keys: Keys, reply: NonNullable<XReadReply>, count: number, more: (id: string) => void): void {
  for (const [key, entries] of reply) {
    const id = keys.idOfEvents(key);
    if (id === null) continue;
    const cursor = core.cursor(id);
    if (cursor === undefined) continue; // removed while the read was in flight
    core.deliver(id, contiguousAfter(cursor, entries));
    // A full batch the cursor has reached the end of (delivered now, or before by the doorbell).
    const last = entries.at(-1);
    const now = core.cursor(id);
    if (entries.length >= count && last !== undefined && now !== undefined && entryIdToOffset(last[0]) <= now) more(id);
  }
}

/**
 * What both Redis tails (tail.ts, cluster-tail.ts) keep: the delivery core's cursors, and the
 * followed generations to read next (added ones and those a doorbell named).
 */
export abstract class BellTail implements Tail {
  /** Where each followed generation is: the delivery core every tail shares. */
  protected readonly cursors: TailCursors;
  /** Followed generations to read before the next wait. */
  protected readonly dirty = new Set<string>();
  protected closed = false;

  constructor(onEvents: TailListener) {
    this.cursors = new TailCursors(onEvents);
  }

  get size(): number {
    return this.cursors.size;
  }

  abstract add(id: string, afterOffset: number, unwritten?: boolean): void;

  remove(id: string): void {
    // No wake: replies for ids no longer followed are dropped.
    this.cursors.unfollow(id);
    this.dirty.delete(id);
  }

  abstract close(): Promise<void>;

  /**
   * Events a doorbell ring carried ([id, offset, ...fields], bell.ts): each is delivered as it is
   * when it comes right after its generation's cursor (the stream holds exactly it), skipped when
   * already delivered or not followed; any other offset means something came between, so that
   * generation becomes dirty (its stream is read). A provisional ring's events (`fences`, bell.ts)
   * are delivered only when `knowsFence` vouches for their fence; otherwise the stream is read.
   */
  protected deliverRung(events: readonly (readonly [string, number, ...string[]])[], fences?: Readonly<Record<string, number>>): void {
    for (const item of events) {
      const id = item[0];
      const offset = item[1];
      const cursor = this.cursors.cursor(id);
      if (cursor === undefined || offset <= cursor) continue;
      if (offset === cursor + 1 && (fences === undefined || this.knowsFence(id, fences[id]))) {
        const ev = fieldsToEvent(offset, item.slice(2) as string[]);
        if (ev && this.cursors.deliver(id, [ev]) === 1) continue;
      }
      this.markNews(id);
    }
  }

  /**
   * Whether `fence` is the generation's current one, as this tail knows for sure (tail.ts keeps
   * it on one Redis). A tail that does not track fences trusts no provisional ring.
   */
  protected knowsFence(_id: string, _fence: number | undefined): boolean {
    return false;
  }

  /** A followed generation has news its ring did not carry: read its stream. */
  protected markNews(id: string): void {
    this.dirty.add(id);
  }

  /**
   * A tail's loop: `step` again and again until closed, waiting on `idle` while nothing is
   * followed. A step that throws calls `onError` (which makes the next step sweep), then the
   * loop pauses `pauseMs` before the next.
   */
  protected async whileFollowing(idle: Wakeup, step: () => Promise<void>, onError: () => void, pauseMs: number): Promise<void> {
    while (!this.closed) {
      if (this.cursors.size === 0) {
        await idle.wait();
        continue;
      }
      try {
        await step();
      } catch {
        onError();
        if (!this.closed) await pause(pauseMs);
      }
    }
  }
}

/** A loop with nothing to do waits here until woken: one waiter, and the call that wakes it. */
export class Wakeup {
  private waiting: (() => void) | null = null;

  /** Resolves at the next wake(). */
  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting = () => {
        this.waiting = null;
        resolve();
      };
    });
  }

  /** Wakes the waiter; false when none was waiting. */
  wake(): boolean {
    const waiting = this.waiting;
    waiting?.();
    return waiting !== null;
  }
}

/** Writers whose ring numbers are remembered (a writer that restarts is a new one). */
const MAX_WRITERS = 4_096;

/**
 * The ring numbers one subscription has seen, per writer (bell.ts: each writer numbers its rings
 * 1, 2, …): a number skipped is a ring that never arrived, whose events only a sweep finds.
 * Cleared when the subscription ends (what was rung meanwhile, the next one's sweep reads).
 */
export class RingNumbers {
  private readonly last = new Map<string, number>();

  /** Whether a ring of this writer came between the last one seen and this one (and was lost). */
  skipped(ring: Ring): boolean {
    const last = this.last.get(ring.writer);
    if (last === undefined && this.last.size >= MAX_WRITERS) this.last.clear();
    this.last.set(ring.writer, ring.n);
    // A writer first heard of now rang before this subscription (the sweep found those events)
    // or this is its first ring.
    return last !== undefined && ring.n !== last + 1;
  }

  clear(): void {
    this.last.clear();
  }
}
