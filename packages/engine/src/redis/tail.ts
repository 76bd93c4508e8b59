import { cursorAfter } from '@tokencast/protocol';
import type { Redis } from 'ioredis';
import type { TailListener } from '../contracts.js';
import { BellTail, bellSeq, bellTop, deliverReply, Wakeup, type XReadReply } from './bell-tail.js';
import { fieldsToEvent } from './codec.js';
import { guardedRead } from './guarded-read.js';
import type { Keys } from './keys.js';

export interface RedisTailOptions {
  /** BLOCK of each XREAD, ms. Short enough for the watchdog to notice a wedged connection soon. */
  blockMs: number;
  /** How long past BLOCK a read may run before the connection is declared wedged. */
  watchdogMarginMs: number;
  /** Entries per stream per XREAD. */
  count: number;
}

/** Streams named in one non-blocking XREAD (a sweep of thousands is split). */
const KEYS_PER_READ = 1_000;

/**
 * The live read path on one Redis, for every generation this process follows, on its own
 * connection: Redis work per process grows with the news, not with the viewers nor with the
 * generations followed (issue #13: a wake costs what has news).
 *
 * Every flush of appends rings a doorbell, one stream (<prefix>:bell, append-batch.ts) whose
 * entries carry the events written with a plain XADD (delivered from the bell when they follow
 * the cursor) and name the generations written otherwise. The tail's one blocking XREAD names the
 * bell and only the followed streams it has to read (named by the bell, or whose bell event did
 * not follow the cursor), each from the last offset delivered: it reads their news and the next
 * rings in one round trip. So a quiet generation costs nothing per wake, 5 000 followed cost what
 * 100 do, and a live token costs one read per flush per edge, not one per generation.
 *
 * When it cannot trust the bell (at start, after a reconnect: Redis may have restarted; when the
 * bell's ids jump: it was trimmed past this reader, or recreated) it sweeps: reads the bell's
 * newest id, then every followed stream once, then waits on the bell from that id. Anything
 * written before that id is found by the sweep, anything after rings the bell, so nothing is
 * missed. A generation added (a new viewer) is read at once: add() wakes the blocked read with
 * CLIENT UNBLOCK (sent on the command connection).
 *
 * Blocking reads go through guardedRead (PITFALLS: a blocking XREAD can hang after a reconnect):
 * a read that outlives BLOCK by the margin recycles the connection, and the tail reads again from
 * its cursors, never from `$`.
 */
export class RedisTail extends BellTail {
  /** n of the newest bell entry (0-n) handled; null: not trusted, sweep first. */
  private bell: number | null = null;
  private clientId: number | null = null;
  private inflight = 0; // sequence number of the blocking read in flight; 0 when none
  private seq = 0;
  /** Wakes the loop from its wait for a first followed generation. */
  private readonly idle = new Wakeup();
  private readonly done: Promise<void>;

  constructor(
    private readonly conn: Redis,
    private readonly cmd: Redis,
    private readonly keys: Keys,
    onEvents: TailListener,
    private readonly opts: RedisTailOptions,
  ) {
    super(onEvents);
    conn.on('ready', () => {
      // (Re)connected: Redis may be a restarted one whose bell starts over. Sweep.
      this.bell = null;
      conn.client('ID').then(
        (id) => {
          this.clientId = Number(id);
        },
        () => {},
      );
    });
    conn.on('error', () => {}); // reconnects by itself; errors surface as interrupted reads
    this.done = this.whileFollowing(
      this.idle,
      () => this.step(),
      () => {
        this.bell = null;
      },
      200,
    );
  }

  add(id: string, afterOffset: number): void {
    this.cursors.follow(id, afterOffset);
    this.dirty.add(id);
    this.wake();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.idle.wake();
    this.conn.disconnect(false);
    await this.done;
  }

  private wake(): void {
    if (this.idle.wake()) return;
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

  /** One turn of the loop: a sweep first when the bell is not trusted, then a read. */
  private async step(): Promise<void> {
    if (this.bell === null) {
      this.bell = await this.bellTop();
      for (const id of this.cursors.ids()) this.dirty.add(id);
    }
    // A sweep's thousands of streams go out in non-blocking parts; a wake's few ride along
    // with the wait on the bell.
    if (this.dirty.size > KEYS_PER_READ) await this.readDirty();
    else await this.readAndWait();
  }

  /** n of the bell's newest entry; 0 when it has none. */
  private async bellTop(): Promise<number> {
    const top = await bellTop(this.conn, this.keys.bell, this.opts.watchdogMarginMs);
    if (top === null) throw new Error('interrupted');
    return top;
  }

  /** Reads the dirty streams (without blocking), from their cursors. */
  private async readDirty(): Promise<void> {
    const ids = [...this.dirty].filter((id) => this.cursors.has(id));
    this.dirty.clear();
    for (let i = 0; i < ids.length; i += KEYS_PER_READ) {
      const part = ids.slice(i, i + KEYS_PER_READ);
      const args: (string | number)[] = ['COUNT', this.opts.count, 'STREAMS'];
      for (const id of part) args.push(this.keys.events(id));
      for (const id of part) args.push(cursorAfter(this.cursors.cursor(id) ?? 0));
      let reply: XReadReply;
      try {
        reply = (await guardedRead(this.conn, () => this.conn.call('XREAD', ...args) as Promise<XReadReply>, 0, this.opts.watchdogMarginMs)) as XReadReply;
      } catch (err) {
        for (const id of ids.slice(i)) this.dirty.add(id);
        throw err;
      }
      // null: no news, or interrupted (then the reconnect's sweep reads them again).
      if (reply) deliverReply(this.cursors, this.keys, reply, this.opts.count, (id) => this.dirty.add(id));
    }
  }

  /**
   * One blocking XREAD naming the bell and the dirty streams, each from its cursor: it answers at
   * once when a dirty stream has news, else when the bell rings. So a wake costs one round trip
   * (bell and news together), not a wait on the bell and then a read of what it named.
   * Generations the bell names become dirty for the next call; a dirty stream that had nothing
   * new is clean again (anything written to it later rings the bell).
   */
  private async readAndWait(): Promise<void> {
    const ids = [...this.dirty].filter((id) => this.cursors.has(id));
    this.dirty.clear();
    const from = this.bell ?? 0;
    const args: (string | number)[] = ['COUNT', this.opts.count, 'BLOCK', this.opts.blockMs, 'STREAMS', this.keys.bell];
    for (const id of ids) args.push(this.keys.events(id));
    args.push(`0-${from}`);
    for (const id of ids) args.push(cursorAfter(this.cursors.cursor(id) ?? 0));
    this.inflight = ++this.seq;
    let reply: XReadReply;
    try {
      const read = () => this.conn.call('XREAD', ...args) as Promise<XReadReply>;
      reply = (await guardedRead(this.conn, read, this.opts.blockMs, this.opts.watchdogMarginMs)) as XReadReply;
    } catch (err) {
      for (const id of ids) this.dirty.add(id);
      throw err;
    } finally {
      this.inflight = 0;
    }
    if (!reply) {
      // Quiet for a whole BLOCK, woken by add(), or interrupted (the reconnect's sweep reads
      // everything again). A bell that went back (deleted, recreated) would never ring past our
      // id: check, at one command per quiet BLOCK.
      if (this.dirty.size === 0 && this.bell !== null && (await this.bellTop()) < this.bell) this.bell = null;
      return;
    }
    let bellEntries: [id: string, fields: string[]][] = [];
    const news: NonNullable<XReadReply> = [];
    for (const part of reply) {
      if (part[0] === this.keys.bell) bellEntries = part[1];
      else news.push(part);
    }
    // The news first: a bell gap below only forces a sweep, it must not drop what was read.
    if (news.length > 0) deliverReply(this.cursors, this.keys, news, this.opts.count, (id) => this.dirty.add(id));
    for (const [entryId, fields] of bellEntries) {
      const n = bellSeq(entryId);
      if (this.bell === null || n !== this.bell + 1) {
        // A gap: entries were trimmed before this reader saw them. Sweep.
        this.bell = null;
        return;
      }
      this.bell = n;
      // append-batch.ts bellItems: g = ids to read, e = events written with a plain XADD.
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const value = fields[i + 1] as string;
        if (fields[i] === 'g') {
          for (const id of value.split(' ')) if (this.cursors.has(id)) this.dirty.add(id);
        } else if (fields[i] === 'e') this.fromBell(value);
      }
    }
  }

  /**
   * The events a bell entry carries: each is delivered as it is when it comes right after its
   * generation's cursor (the stream holds exactly it: the bell is rung only after the XADD
   * succeeded), skipped when already delivered or not followed; any other offset means something
   * came between, so that stream is read.
   */
  private fromBell(value: string): void {
    let list: unknown;
    try {
      list = JSON.parse(value);
    } catch {
      return; // not ours: the streams are swept at the next gap or reconnect
    }
    if (!Array.isArray(list)) return;
    for (const item of list) {
      if (!Array.isArray(item) || typeof item[0] !== 'string' || typeof item[1] !== 'number') continue;
      const id = item[0];
      const offset = item[1];
      const cursor = this.cursors.cursor(id);
      if (cursor === undefined || offset <= cursor) continue;
      if (offset === cursor + 1) {
        const ev = fieldsToEvent(offset, item.slice(2) as string[]);
        if (ev && this.cursors.deliver(id, [ev]) === 1) continue;
      }
      this.dirty.add(id);
    }
  }
}
