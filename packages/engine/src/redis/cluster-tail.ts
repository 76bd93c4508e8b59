import { cursorAfter } from '@tokencast/protocol';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import type { TailListener } from '../contracts.js';
import { parseRing } from './bell.js';
import { BellTail, deliverReply, RingNumbers, Wakeup, type XReadReply } from './bell-tail.js';
import { pause } from './guarded-read.js';
import type { Keys } from './keys.js';

export interface ClusterTailOptions {
  /** Entries per stream per XREAD. */
  count: number;
  /** How often each shard's subscription is checked (a PING, and whether its slot moved), ms. */
  blockMs: number;
  /** How long a read or a PING may go unanswered before its connection is declared wedged, ms. */
  watchdogMarginMs: number;
  /** Doorbell shards (Keys.bellShard): one subscription each. The writers use the same number. */
  bells: number;
}

/** Streams named in one XREAD (all of one slot). */
const KEYS_PER_READ = 256;
/** After a failed read of news, or a subscription that ended, wait this long before the next, ms. */
const ERROR_PAUSE_MS = 200;

/** Redis Cluster's slot of a key (the cluster-key-slot package, as ioredis computes it). */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

/**
 * Opens a connection to one cluster node (engine.ts: the cluster's credentials, TLS and a name),
 * not yet connected, that never reconnects by itself: a shard's subscription moves with its slot,
 * so the tail picks the node again each time.
 */
export type OpenNode = (host: string, port: number, role: string) => Redis;

/**
 * The live read path on a Redis Cluster: nothing polls, and a wake costs what has news (issue #13).
 *
 * A generation's keys live on its slot, and the generations an edge follows are spread over all
 * 16384 slots; so, as on one Redis (tail.ts), the tail waits on doorbells, not on the streams.
 * The doorbell is `bells` sharded pub/sub channels (SPUBLISH / SSUBSCRIBE, Redis 7.0: a channel
 * lives on its slot's master, and a message goes to that master's subscribers only, not over the
 * cluster bus to every node). A writer rings its own shard (engine.ts: picked at random, so
 * writers spread over the shards) once per flush, after its writes answered, with the events it
 * wrote, numbered as on one Redis (bell.ts). The tail subscribes to every shard, each on a
 * connection to the master serving the shard's slot, delivers the events that follow on, and
 * reads, without blocking, only the followed streams that did not (or that a ring named, their
 * events too big to carry): one XREAD per slot, auto-pipelined per node by ioredis.
 *
 * Pub/sub loses what is published while nobody listens, so a shard's subscription is trusted only
 * while it lasts: once Redis confirms it, every followed generation is read from its cursor (a
 * writer rings its own shard with whatever it wrote), and a writer's skipped ring number does the
 * same. A subscription ends, and is made again at the slot's master now, when its connection
 * closes, when a PING goes unanswered past the margin (PITFALLS: a connection can wedge open and
 * silent), when Redis says the slot moved (MOVED to SSUBSCRIBE, or the server's own SUNSUBSCRIBE
 * when the node gives the slot away), or when the cluster client's slot map names another master
 * (each check also sends one EXISTS on the shard's slot through it, so a move it has not seen
 * answers MOVED and updates the map).
 */
export class ClusterTail extends BellTail {
  private readonly shards: Shard[] = [];
  private readonly running: Promise<void>[] = [];
  /** Wakes the read loop when a generation becomes dirty. */
  private readonly kick = new Wakeup();

  constructor(
    /** For the reads of news (non-blocking), with auto-pipelining; its slot map places the shards. */
    private readonly conn: Cluster,
    private readonly openNode: OpenNode,
    private readonly keys: Keys,
    onEvents: TailListener,
    private readonly opts: ClusterTailOptions,
  ) {
    super(onEvents);
    conn.on('error', () => {}); // reconnects by itself; errors surface as failed reads
    for (let k = 0; k < opts.bells; k++) {
      const shard = new Shard(k, keys.bellShard(k));
      this.shards.push(shard);
      this.running.push(this.shardLoop(shard));
    }
    this.running.push(this.readLoop());
  }

  add(id: string, afterOffset: number, unwritten = false): void {
    if (this.closed) return;
    this.cursors.follow(id, afterOffset);
    // Unwritten: every event to come is rung after this call (tail.ts says why), to a shard whose
    // subscription is live then or, confirmed later, sweeps every followed stream.
    if (!unwritten) this.markDirty(id);
    for (const s of this.shards) s.idle.wake();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.kick.wake();
    for (const s of this.shards) {
      s.idle.wake();
      s.end?.();
    }
    this.conn.disconnect(false);
    await Promise.all(this.running);
  }

  private markDirty(id: string): void {
    this.dirty.add(id);
    this.kick.wake();
  }

  protected override markNews(id: string): void {
    this.markDirty(id);
  }

  /** Every followed generation is read from its cursor. */
  private sweep(): void {
    for (const id of this.cursors.ids()) this.markDirty(id);
  }

  /** A shard's subscriptions, one after another, while anything is followed. */
  private async shardLoop(shard: Shard): Promise<void> {
    while (!this.closed) {
      if (this.cursors.size === 0) {
        await shard.idle.wait();
        continue;
      }
      try {
        await this.subscription(shard);
      } catch {
        // not connected, not subscribed, or no master known for the slot yet: try again
      }
      shard.numbers.clear();
      if (!this.closed) await pause(ERROR_PAUSE_MS);
    }
  }

  /** One subscription of a shard, from connecting to its end. */
  private async subscription(shard: Shard): Promise<void> {
    // A command on the shard's slot through the cluster client first: if the slot moved since
    // the client last looked, MOVED updates its slot map (a MOVED to our own SSUBSCRIBE would not).
    await this.conn.exists(shard.key);
    const node = nodeOf(this.conn, shard.key);
    if (node === null) throw new Error(`no master known for ${shard.key}`);
    const colon = node.lastIndexOf(':');
    const sub = this.openNode(node.slice(0, colon), Number(node.slice(colon + 1)), `tail:bell:${shard.k}`);
    let watch: NodeJS.Timeout | undefined;
    try {
      const ended = new Promise<void>((resolve) => {
        shard.end = resolve;
        sub.on('close', resolve);
        // SSUBSCRIBE answered MOVED (ioredis emits 'moved' and never settles the command): the
        // slot map was stale. A SUNSUBSCRIBE Redis sends by itself (the node gave the slot away)
        // reaches ioredis as a reply no command waits for, reported as an error; or, with a PING
        // in flight, it settles that PING (with 0), and the PONG after it is the error. So any
        // error on this connection ends the subscription, and so does a PING answered otherwise
        // than PONG: a new one costs a sweep, a dead one costs every ring until the watchdog.
        sub.on('moved', resolve);
        sub.on('error', () => resolve());
      });
      sub.on('smessage', (_channel: string, message: string) => this.onRing(shard, message));
      const interrupted = ended.then(() => {
        throw new Error('the subscription ended before Redis confirmed it');
      });
      await Promise.race([sub.connect().then(() => sub.ssubscribe(shard.key)), interrupted]);
      if (this.closed) return;
      // Rings reach us from here on; what was rung before, the sweep reads.
      this.sweep();
      let pinging = false;
      watch = setInterval(() => {
        if (nodeOf(this.conn, shard.key) !== node) return shard.end?.(); // the slot has another master now
        // A command on the shard's slot through the cluster client: a master that no longer serves
        // it answers MOVED, which updates the slot map the line above reads at the next check.
        this.conn.exists(shard.key).catch(() => {});
        if (pinging) return;
        pinging = true;
        const timer = setTimeout(() => shard.end?.(), this.opts.watchdogMarginMs);
        sub
          .ping()
          .then((reply: unknown) => {
            if (!isPong(reply)) shard.end?.();
          })
          .catch(() => shard.end?.())
          .finally(() => {
            clearTimeout(timer);
            pinging = false;
          });
      }, this.opts.blockMs);
      await ended;
    } finally {
      clearInterval(watch);
      shard.end = null;
      sub.disconnect(false);
    }
  }

  private onRing(shard: Shard, message: string): void {
    const ring = parseRing(message);
    if (!ring) return; // not ours
    if (shard.numbers.skipped(ring)) this.sweep();
    for (const id of ring.named) if (this.cursors.has(id)) this.markDirty(id);
    this.deliverRung(ring.events);
  }

  /** Reads the streams of dirty generations, one XREAD per slot, as soon as there are any. */
  private async readLoop(): Promise<void> {
    while (!this.closed) {
      if (this.dirty.size === 0) {
        await this.kick.wait();
        continue;
      }
      const bySlot = new Map<number, string[]>();
      for (const id of this.dirty) {
        if (!this.cursors.has(id)) continue;
        const slot = keySlot(this.keys.events(id));
        const list = bySlot.get(slot);
        if (list) list.push(id);
        else bySlot.set(slot, [id]);
      }
      this.dirty.clear();
      const reads: Promise<boolean>[] = [];
      for (const ids of bySlot.values()) {
        for (let i = 0; i < ids.length; i += KEYS_PER_READ) reads.push(this.read(ids.slice(i, i + KEYS_PER_READ)));
      }
      const ok = await Promise.all(reads);
      if (ok.includes(false) && !this.closed) await pause(ERROR_PAUSE_MS);
    }
  }

  /** One XREAD over streams of one slot; false (and the ids dirty again) when it failed. */
  private async read(ids: string[]): Promise<boolean> {
    const args: (string | number)[] = ['COUNT', this.opts.count, 'STREAMS'];
    for (const id of ids) args.push(this.keys.events(id));
    for (const id of ids) args.push(cursorAfter(this.cursors.cursor(id) ?? 0));
    try {
      const reply = (await this.conn.call('XREAD', ...args)) as XReadReply;
      if (reply && !this.closed) deliverReply(this.cursors, this.keys, reply, this.opts.count, (id) => this.dirty.add(id));
      return true;
    } catch {
      for (const id of ids) if (this.cursors.has(id)) this.dirty.add(id);
      return false;
    }
  }
}

/** One doorbell shard: its channel, and its subscription's state. */
class Shard {
  /** Ring numbers seen per writer on this shard's current subscription. */
  readonly numbers = new RingNumbers();
  /** Wakes the shard's loop from its wait for a first followed generation. */
  readonly idle = new Wakeup();
  /** Ends the current subscription (closing, or found stale); null between subscriptions. */
  end: (() => void) | null = null;

  constructor(
    readonly k: number,
    readonly key: string,
  ) {}
}

/**
 * "host:port" of the master serving a key's slot, as the cluster client's slot map has it (ioredis
 * keeps it untyped: read, never changed; engine.ts masterOf reads it the same way); null when
 * unknown.
 */
function nodeOf(c: Cluster, key: string): string | null {
  const slots = (c as unknown as { slots?: (string[] | undefined)[] }).slots;
  return slots?.[keySlot(key)]?.[0] ?? null;
}

/** A PING's answer on a subscribed connection: `pong` and an empty message (RESP2), or PONG. */
function isPong(reply: unknown): boolean {
  if (Array.isArray(reply)) return String(reply[0]).toLowerCase() === 'pong';
  return String(reply).toUpperCase() === 'PONG';
}
