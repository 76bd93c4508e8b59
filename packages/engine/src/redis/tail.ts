import { offsetToEntryId, type StoredEvent } from '@tokencast/protocol';
import type { Redis } from 'ioredis';
import type { Tail, TailListener } from '../contracts.js';
import { contiguousAfter } from './contiguous.js';
import { guardedRead, pause } from './guarded-read.js';
import type { Keys } from './keys.js';

export interface RedisTailOptions {
  /** BLOCK of each XREAD, ms. Short enough for the watchdog to notice a wedged connection soon. */
  blockMs: number;
  /** How long past BLOCK a read may run before the connection is declared wedged. */
  watchdogMarginMs: number;
  /** Entries per stream per XREAD. */
  count: number;
}

type XReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/**
 * One XREAD BLOCK loop covering every generation this process follows, on its own connection:
 * Redis work per process does not grow with the number of viewers, only with the number of
 * generations being followed. Adding a generation wakes the blocked read with CLIENT UNBLOCK
 * (sent on the command connection) so the new key joins the next read at once.
 */
export class RedisTail implements Tail {
  /** Generation id → offset of the last event delivered (the next read starts after it). */
  private readonly cursors = new Map<string, number>();
  private clientId: number | null = null;
  private inflight = 0; // sequence number of the read in flight; 0 when none
  private seq = 0;
  private closed = false;
  private idle: (() => void) | null = null;
  private readonly done: Promise<void>;

  constructor(
    private readonly conn: Redis,
    private readonly cmd: Redis,
    private readonly keys: Keys,
    private readonly onEvents: TailListener,
    private readonly opts: RedisTailOptions,
  ) {
    conn.on('ready', () => {
      conn.client('ID').then(
        (id) => {
          this.clientId = Number(id);
        },
        () => {},
      );
    });
    conn.on('error', () => {}); // reconnects by itself; errors surface as interrupted reads
    this.done = this.loop();
  }

  get size(): number {
    return this.cursors.size;
  }

  add(id: string, afterOffset: number): void {
    const known = this.cursors.has(id);
    this.cursors.set(id, afterOffset);
    if (!known) this.wake();
  }

  remove(id: string): void {
    // No wake: replies for ids no longer followed are dropped; the next read omits the key.
    this.cursors.delete(id);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.idle?.();
    this.conn.disconnect(false);
    await this.done;
  }

  private wake(): void {
    if (this.idle) {
      this.idle();
      return;
    }
    const seq = this.inflight;
    if (seq === 0 || this.clientId === null) return;
    this.unblock();
    // The UNBLOCK may overtake the XREAD it was meant for (they travel on two connections);
    // a second one shortly after catches a read that was not yet blocking.
    setTimeout(() => {
      if (this.inflight === seq) this.unblock();
    }, 25).unref();
  }

  private unblock(): void {
    if (this.clientId !== null) this.cmd.client('UNBLOCK', this.clientId).catch(() => {});
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      if (this.cursors.size === 0) {
        await new Promise<void>((resolve) => {
          this.idle = resolve;
        });
        this.idle = null;
        continue;
      }
      const ids = [...this.cursors.keys()];
      const args: (string | number)[] = ['COUNT', this.opts.count, 'BLOCK', this.opts.blockMs, 'STREAMS'];
      for (const id of ids) args.push(this.keys.events(id));
      for (const id of ids) args.push(offsetToEntryId(this.cursors.get(id) ?? 0));
      this.inflight = ++this.seq;
      let reply: XReadReply;
      try {
        reply = (await guardedRead(this.conn, () => this.conn.call('XREAD', ...args) as Promise<XReadReply>, this.opts.blockMs, this.opts.watchdogMarginMs)) as XReadReply;
      } catch {
        this.inflight = 0;
        if (!this.closed) await pause(200);
        continue;
      } finally {
        this.inflight = 0;
      }
      if (reply) this.deliver(reply);
    }
  }

  private deliver(reply: NonNullable<XReadReply>): void {
    for (const [key, entries] of reply) {
      const id = this.keys.idOfEvents(key);
      if (id === null) continue;
      const start = this.cursors.get(id);
      if (start === undefined) continue; // removed while the read was in flight
      const events = contiguousAfter(start, entries);
      if (events.length === 0) continue;
      const last = events[events.length - 1] as StoredEvent;
      this.cursors.set(id, last.offset);
      if (last.kind === 'end') this.cursors.delete(id); // nothing follows a terminal event
      this.onEvents(id, events);
    }
  }
}
