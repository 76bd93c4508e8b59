import { cursorAfter } from '@tokencast/protocol';
import type { Redis } from 'ioredis';
import type { TailListener } from '../contracts.js';
import { type Notice, parseBell, type Ring } from './bell.js';
import { BellTail, deliverReply, RingNumbers, Wakeup, type XReadReply } from './bell-tail.js';
import { guardedRead } from './guarded-read.js';
import type { Keys } from './keys.js';

export interface RedisTailOptions {
  /** How often the doorbell connection is checked with a PING when nothing else comes, ms. */
  blockMs: number;
  /** How long a read or a PING may go unanswered before its connection is declared wedged. */
  watchdogMarginMs: number;
  /** Entries per stream per XREAD. */
  count: number;
}

/** Streams named in one XREAD (a sweep of thousands is split). */
const KEYS_PER_READ = 1_000;

/**
 * The live read path on one Redis, for every generation this process follows: Redis work per
 * process grows with the news, not with the viewers nor with the generations followed (issue
 * #13: a wake costs what has news).
 *
 * Every flush of appends rings a doorbell, a pub/sub channel (<prefix>:bell, append-batch.ts):
 * the ring carries the events written (delivered from it when they follow the cursor) and names
 * the generations whose events were too big to carry. Redis pushes each ring to every edge, so
 * live delivery costs Redis one PUBLISH per flush and a write per edge, and edges send nothing
 * back: no blocking read to re-issue per flush. Streams are read (plain XREAD, on a second
 * connection) only for a generation just added, one a ring named, or one whose ring event did not
 * follow the cursor.
 *
 * Pub/sub loses what is published while a subscriber is away, so the tail trusts the doorbell
 * only while its subscription lasts: once a (re)subscription is confirmed it sweeps, reading
 * every followed stream from its cursor. Anything written before that is found by the sweep,
 * anything after is rung to this subscription, so nothing is missed. Each writer numbers its
 * rings; a number skipped (a ring that failed to go out) also sweeps. A subscription that goes
 * silent is checked with a PING every blockMs: unanswered within the margin, the connection is
 * replaced (PITFALLS: a connection can wedge open and silent).
 *
 * A writer's plain XADDs ring provisionally, in their own pipeline (bell.ts): such a ring's events
 * are delivered only for a generation whose current fence this tail knows for sure and which they
 * were written with. It knows it for as long as one subscription lasts, from a claim's notice on
 * it (claims announce their fence inside the script, so before any write they fence out can
 * ring), from a read of the meta sent while it was confirmed (`fence`, read with the stream), or,
 * for a generation added as unwritten while confirmed, as 0 (not claimed yet). A deletion is
 * announced too, and forgets the fence. A subscription that ends forgets every fence; the sweep
 * after the next one reads them again.
 */
export class RedisTail extends BellTail {
  /** The subscription is confirmed and the sweep after it is under way or done. */
  private subscribed = false;
  /** The ring numbers this subscription has seen, per writer. */
  private readonly numbers = new RingNumbers();
  /** Wakes the loop: something followed, something to read, or closing. */
  private readonly wakeup = new Wakeup();
  private readonly watchdog: NodeJS.Timeout;
  private pinging = false;
  private readonly done: Promise<void>;
  /** Followed generations' current fences, as this subscription vouches for them (see above). */
  private readonly fences = new Map<string, number>();
  /** Counts the subscription's ends: a fence read sent under an earlier one vouches for nothing. */
  private subscription = 0;

  constructor(
    /** Reads the streams (never blocks). */
    private readonly conn: Redis,
    /** Subscribed to the doorbell, nothing else. */
    private readonly sub: Redis,
    private readonly keys: Keys,
    onEvents: TailListener,
    private readonly opts: RedisTailOptions,
  ) {
    super(onEvents);
    conn.on('error', () => {}); // reconnects by itself; errors surface as interrupted reads
    sub.on('error', () => {});
    sub.on('message', (_channel: string, message: string) => this.onRing(message));
    sub.on('ready', () => this.subscribe());
    sub.on('close', () => {
      this.subscribed = false;
      this.numbers.clear();
      this.fences.clear();
      this.subscription += 1;
      // A PING in flight on the closed connection never settles (nothing is re-sent): the next
      // connection gets its own.
      this.pinging = false;
    });
    if (sub.status === 'ready') this.subscribe();
    this.watchdog = setInterval(() => this.ping(), opts.blockMs);
    this.watchdog.unref();
    this.done = this.whileFollowing(
      this.wakeup,
      () => this.step(),
      () => {},
      200,
    );
  }

  add(id: string, afterOffset: number, unwritten = false): void {
    this.cursors.follow(id, afterOffset);
    this.fences.delete(id);
    // Unwritten: every event to come is rung after this call (a ring goes out with its write,
    // the write after the job is queued, the job after this call), so the subscription hears of
    // it, or, when it is not confirmed yet or is lost meanwhile, the sweep that follows the next
    // confirmation reads this stream with the others. Nothing to read now. Not claimed yet, so
    // its fence is 0 until this subscription hears a claim's notice.
    if (unwritten) {
      if (this.subscribed) this.fences.set(id, 0);
      return;
    }
    this.dirty.add(id);
    this.wakeup.wake();
  }

  override remove(id: string): void {
    super.remove(id);
    this.fences.delete(id);
  }

  protected override knowsFence(id: string, fence: number | undefined): boolean {
    return fence !== undefined && this.fences.get(id) === fence;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    this.wakeup.wake();
    this.sub.disconnect(false);
    this.conn.disconnect(false);
    await this.done;
  }

  /**
   * (Re)subscribes and, once Redis confirms, sweeps. ioredis also re-subscribes by itself after a
   * reconnect, but only this reply says from when rings reach us (SUBSCRIBE is idempotent).
   */
  private subscribe(): void {
    this.sub.subscribe(this.keys.bell).then(
      () => {
        if (this.closed) return;
        this.subscribed = true;
        this.sweep();
      },
      () => {}, // the connection went again: its next 'ready' subscribes
    );
  }

  /** Every followed stream is read from its cursor before the loop waits again. */
  private sweep(): void {
    for (const id of this.cursors.ids()) this.dirty.add(id);
    this.wakeup.wake();
  }

  /** An answered PING proves the subscription alive; none within the margin replaces the connection. */
  private ping(): void {
    if (this.pinging || !this.subscribed || this.sub.status !== 'ready') return;
    this.pinging = true;
    const timer = setTimeout(() => {
      if (this.sub.status === 'ready') this.sub.disconnect(true); // wedged: reconnect, resubscribe, sweep
    }, this.opts.watchdogMarginMs);
    timer.unref();
    this.sub
      .ping()
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        this.pinging = false;
      });
  }

  /** One turn of the loop: read what is dirty, or wait for something to be. */
  private async step(): Promise<void> {
    if (this.dirty.size === 0 || !this.subscribed) {
      // Not subscribed: a read now could miss what is rung before the subscription; the sweep
      // that follows it reads everything.
      await this.wakeup.wait();
      return;
    }
    await this.readDirty();
  }

  /**
   * Reads the dirty streams from their cursors, in parts of KEYS_PER_READ, and the fences of
   * those this subscription does not vouch for yet (sent with the read, on the same connection).
   */
  private async readDirty(): Promise<void> {
    const ids = [...this.dirty].filter((id) => this.cursors.has(id));
    this.dirty.clear();
    for (let i = 0; i < ids.length; i += KEYS_PER_READ) {
      const part = ids.slice(i, i + KEYS_PER_READ);
      const args: (string | number)[] = ['COUNT', this.opts.count, 'STREAMS'];
      for (const id of part) args.push(this.keys.events(id));
      for (const id of part) args.push(cursorAfter(this.cursors.cursor(id) ?? 0));
      this.readFences(part.filter((id) => !this.fences.has(id)));
      let reply: XReadReply;
      try {
        reply = (await guardedRead(this.conn, () => this.conn.call('XREAD', ...args) as Promise<XReadReply>, 0, this.opts.watchdogMarginMs)) as XReadReply;
      } catch (err) {
        for (const id of ids.slice(i)) this.dirty.add(id);
        throw err;
      }
      if (reply === null && this.conn.status !== 'ready') {
        // Interrupted (the connection went): read these again once it is back.
        for (const id of ids.slice(i)) this.dirty.add(id);
        throw new Error('interrupted');
      }
      // null otherwise: no news.
      if (reply) deliverReply(this.cursors, this.keys, reply, this.opts.count, (id) => this.dirty.add(id));
    }
  }

  /**
   * Reads generations' fences. Sent while this subscription is confirmed, a fence read vouches
   * for the generation while it lasts: a later claim's notice comes on it. Kept as the larger of
   * it and a notice that came first (fences only grow). A missing meta (deleted) vouches for
   * nothing: its provisional rings are never trusted.
   */
  private readFences(ids: string[]): void {
    if (ids.length === 0) return;
    const subscription = this.subscription;
    const pipeline = this.conn.pipeline();
    for (const id of ids) pipeline.hget(this.keys.meta(id), 'fence');
    pipeline.exec().then(
      (results) => {
        if (subscription !== this.subscription || !results) return;
        ids.forEach((id, k) => {
          const [err, value] = results[k] ?? [null, null];
          if (err || value === null || !this.cursors.has(id)) return;
          const fence = Number(value);
          if (Number.isInteger(fence)) this.fences.set(id, Math.max(fence, this.fences.get(id) ?? 0));
        });
      },
      () => {}, // unanswered: the next read of these asks again
    );
  }

  private onRing(message: string): void {
    const msg = parseBell(message);
    if (!msg) return; // not ours
    if ('notice' in msg) this.onNotice(msg.notice);
    else this.deliverRing(msg.ring);
  }

  private deliverRing(ring: Ring): void {
    if (this.numbers.skipped(ring)) this.sweep();
    for (const id of ring.named) if (this.cursors.has(id)) this.dirty.add(id);
    this.deliverRung(ring.events, ring.fences);
    if (this.dirty.size > 0) this.wakeup.wake();
  }

  /** A claim's new fence, heard on this subscription, vouches for it; a deletion forgets it. */
  private onNotice(notice: Notice): void {
    if ('gone' in notice) {
      this.fences.delete(notice.gone);
      return;
    }
    const id = notice.claimed;
    if (this.cursors.has(id)) this.fences.set(id, Math.max(notice.fence, this.fences.get(id) ?? 0));
  }
}
