import { cursorAfter } from '@tokencast/protocol';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import type { TailListener } from '../contracts.js';
import { ringEvents } from './bell.js';
import { BellTail, bellSeq, bellTop, deliverReply, Wakeup, type XReadReply } from './bell-tail.js';
import { guardedRead, pause } from './guarded-read.js';
import type { Keys } from './keys.js';

export interface ClusterTailOptions {
  /** Entries per stream per XREAD. */
  count: number;
  /** BLOCK of each bell read, ms. */
  blockMs: number;
  /** How long past BLOCK a read may run before its connection is recycled, ms. */
  watchdogMarginMs: number;
  /** Doorbell shards (Keys.bellShard): one blocking read each. The writers use the same number. */
  bells: number;
}

/** Streams named in one XREAD (all of one slot). */
const KEYS_PER_READ = 256;
/** Bell entries per blocking read. */
const BELL_COUNT = 1_000;
/** After a failed read of news, wait this long before reading again, ms. */
const ERROR_PAUSE_MS = 200;

/** Redis Cluster's slot of a key (the cluster-key-slot package, as ioredis computes it). */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

/**
 * The live read path on a Redis Cluster: reads that block instead of polling (issue #13).
 *
 * A blocking XREAD may only name keys of one slot, and the generations an edge follows are spread
 * over all 16384 slots; so, as on one Redis (tail.ts), the tail blocks on doorbells, not on the
 * generations' streams. There are `bells` doorbell streams (<prefix>:bell:{…-<k>}, each in a slot
 * of its own); a writer rings its own shard (engine.ts: picked at random, so writers spread over
 * the shards) with the events it wrote, after the write is acknowledged (it cannot be in the same
 * script: it is another slot).
 * The tail blocks on every shard, each on a connection of its own (a blocking read holds its
 * connection), delivers the events the entries carry when they follow on, and reads, without
 * blocking, only the followed streams that did not (or that a ring named, their events too big
 * to carry): one XREAD per slot, auto-pipelined per node by ioredis. A quiet cluster costs one
 * read per shard per BLOCK; a wake costs what has news.
 *
 * A shard it cannot trust (at start, after its connection came back, on a gap in the bell's ids)
 * is swept: its newest id is read, then every followed generation of the shard, then the bell is
 * read from that id, so nothing written before or after is missed. Slot moves and failovers are
 * ioredis' business (MOVED, slot map refresh); a read that fails is retried from the cursors.
 */
export class ClusterTail extends BellTail {
  private readonly shards: Shard[] = [];
  private readonly running: Promise<void>[] = [];
  /** Wakes the read loop when a generation becomes dirty. */
  private readonly kick = new Wakeup();

  constructor(
    /** For the reads of news (non-blocking), with auto-pipelining. */
    private readonly conn: Cluster,
    /** Opens one blocking connection per shard. */
    openBlocking: (name: string) => Cluster,
    private readonly keys: Keys,
    onEvents: TailListener,
    private readonly opts: ClusterTailOptions,
  ) {
    super(onEvents);
    conn.on('error', () => {}); // reconnects by itself; errors surface as failed reads
    for (let k = 0; k < opts.bells; k++) {
      const shard = new Shard(keys.bellShard(k), openBlocking(`tail:bell:${k}`));
      shard.conn.on('error', () => {});
      shard.conn.on('ready', () => {
        shard.seq = null; // (re)connected: sweep
      });
      this.shards.push(shard);
      const sweep = () => {
        shard.seq = null;
      };
      this.running.push(this.whileFollowing(shard.idle, () => this.bellStep(shard), sweep, ERROR_PAUSE_MS));
    }
    this.running.push(this.readLoop());
  }

  add(id: string, afterOffset: number): void {
    if (this.closed) return;
    this.cursors.follow(id, afterOffset);
    this.markDirty(id);
    for (const s of this.shards) s.idle.wake();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.kick.wake();
    for (const s of this.shards) {
      s.idle.wake();
      s.conn.disconnect(false);
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

  /** One turn of a shard's loop: a sweep when the shard is not trusted, else a wait on its bell. */
  private async bellStep(shard: Shard): Promise<void> {
    const conn = shard.conn as unknown as Redis; // guardedRead uses only what Redis and Cluster share
    if (shard.seq === null) {
      const top = await bellTop(conn, shard.key, this.opts.watchdogMarginMs);
      if (top === null) throw new Error('interrupted');
      shard.seq = top;
      // A writer rings its own shard with whatever generations it wrote: any of them may have
      // been rung here.
      for (const id of this.cursors.ids()) this.markDirty(id);
      return;
    }
    const from = shard.seq;
    const read = () => conn.call('XREAD', 'COUNT', BELL_COUNT, 'BLOCK', this.opts.blockMs, 'STREAMS', shard.key, `0-${from}`) as Promise<XReadReply>;
    const reply = (await guardedRead(conn, read, this.opts.blockMs, this.opts.watchdogMarginMs)) as XReadReply;
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length === 0) {
      // Quiet for a whole BLOCK: a bell that went back (deleted, recreated) would never
      // ring past our id. Check, at one command per quiet BLOCK.
      const top = await bellTop(conn, shard.key, this.opts.watchdogMarginMs);
      if (top !== null && top < from) shard.seq = null;
      return;
    }
    for (const [entryId, fields] of entries) {
      const n = bellSeq(entryId);
      if (shard.seq === null || n !== shard.seq + 1) {
        shard.seq = null; // a gap: trimmed before this reader saw it
        return;
      }
      shard.seq = n;
      // g: ids to read; e: the events written (engine.ts ring), delivered when they follow on.
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const value = fields[i + 1] as string;
        if (fields[i] === 'g') {
          for (const id of value.split(' ')) if (this.cursors.has(id)) this.markDirty(id);
        } else if (fields[i] === 'e') this.deliverRung(ringEvents(value));
      }
    }
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

/** One doorbell shard: its key, its blocking connection, and the newest entry handled. */
class Shard {
  /** n of the newest bell entry (0-n) handled; null: sweep first. */
  seq: number | null = null;
  /** Wakes the shard's loop from its wait for a first followed generation. */
  readonly idle = new Wakeup();

  constructor(
    readonly key: string,
    readonly conn: Cluster,
  ) {}
}
