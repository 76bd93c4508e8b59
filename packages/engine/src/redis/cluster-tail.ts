import { offsetToEntryId, type StoredEvent } from '@tokencast/protocol';
import type { Cluster } from 'ioredis';
import type { Tail, TailListener } from '../contracts.js';
import { contiguousAfter } from './contiguous.js';
import type { Keys } from './keys.js';

export interface ClusterTailOptions {
  /** Entries per stream per XREAD. */
  count: number;
  /**
   * Longest pause between two polls of a quiet node, ms: the most a first event after a quiet
   * spell waits before it is read. While events flow a node is polled again at once.
   */
  idlePollMs: number;
}

type XReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/** After a failed poll (node down, slots moving), wait this long before polling that node again. */
const ERROR_PAUSE_MS = 200;
/** Longest close() waits for polls in flight, ms. */
const CLOSE_WAIT_MS = 1_000;
/** Most streams named in one XREAD; a slot holding more is read with several commands. */
const KEYS_PER_READ = 256;

/**
 * The live read path on a Redis Cluster. The single-node RedisTail's one XREAD BLOCK over every
 * followed stream cannot work here: a command may only name keys of one slot (CROSSSLOT), and
 * the generations an edge follows are spread over all 16384 slots.
 *
 * Why polling and not a blocking read per slot: generation ids are random, so almost every
 * followed generation sits in a slot of its own, and blocking per slot would need one connection
 * per followed generation per edge. Instead, per master node, one loop sends one pipeline per
 * tick holding one non-blocking `XREAD COUNT n STREAMS k… id…` per slot (all keys of a command
 * in one slot; all commands of a pipeline on one node). Redis work per tick grows with the
 * generations followed, never with viewers (the edge's hub asks for each generation once), and
 * connections stay at one per node. The cost is latency after a quiet spell: a quiet node is
 * polled at 1, 2, 4, … ms, up to `idlePollMs`; as soon as a poll returns data the node is polled
 * again at once, and add() wakes its node's loop so a new generation is read straight away.
 * Polls never block, so a read cannot wedge across a reconnect (PITFALLS: blocking XREAD after a
 * reconnect): the connection's command timeout bounds every poll, and the next one starts from
 * the last offset delivered.
 *
 * Nodes are found from ioredis' slot map and regrouped on every tick, so after a failover or a
 * resharding (ioredis emits `refresh`) each generation is polled on its new master.
 * Delivery follows RedisTail exactly: contiguous offsets only, in order, once; a generation is
 * dropped after its end event.
 */
export class ClusterTail implements Tail {
  /** Generation id → offset of the last event delivered (the next read starts after it). */
  private readonly cursors = new Map<string, number>();
  private readonly slotOf = new Map<string, number>();
  /** Slot → generations followed in it. */
  private readonly bySlot = new Map<number, Set<string>>();
  /** Node group (ioredis' "host:port;…" of the slot's nodes) → its poll loop. */
  private readonly loops = new Map<string, NodeLoop>();
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly conn: Cluster,
    private readonly keys: Keys,
    private readonly onEvents: TailListener,
    private readonly opts: ClusterTailOptions,
  ) {
    // New slot map (failover, resharding, first connect): start loops for nodes not polled yet.
    conn.on('refresh', () => this.ensureLoops());
    conn.on('ready', () => this.ensureLoops());
    conn.on('error', () => {}); // reconnects by itself; errors surface as failed polls
  }

  get size(): number {
    return this.cursors.size;
  }

  add(id: string, afterOffset: number): void {
    if (this.closed) return;
    this.cursors.set(id, afterOffset);
    let slot = this.slotOf.get(id);
    if (slot === undefined) {
      slot = keySlot(this.keys.events(id));
      this.slotOf.set(id, slot);
      let ids = this.bySlot.get(slot);
      if (!ids) {
        ids = new Set();
        this.bySlot.set(slot, ids);
      }
      ids.add(id);
    }
    const group = this.groupOf(slot);
    if (group !== null) this.loopFor(group).wake();
  }

  remove(id: string): void {
    // No wake: replies for ids no longer followed are dropped; the next poll omits the key.
    this.cursors.delete(id);
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    this.slotOf.delete(id);
    const ids = this.bySlot.get(slot);
    ids?.delete(id);
    if (ids?.size === 0) this.bySlot.delete(slot);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const loop of this.loops.values()) loop.wake();
    this.conn.disconnect(false);
    // A poll cut off by the disconnect normally rejects at once; never let close() hang on one
    // that does not (its late reply is ignored: deliver() checks `closed`).
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
    });
    await Promise.race([Promise.all(this.running), bound]);
    clearTimeout(timer);
  }

  /** Nodes serving a slot, as ioredis groups them; null while the slot map is unknown. */
  private groupOf(slot: number): string | null {
    const nodes = this.conn.slots[slot];
    return nodes && nodes.length > 0 ? nodes.join(';') : null;
  }

  private ensureLoops(): void {
    if (this.closed) return;
    for (const slot of this.bySlot.keys()) {
      const group = this.groupOf(slot);
      if (group !== null && !this.loops.has(group)) this.loopFor(group);
    }
  }

  private loopFor(group: string): NodeLoop {
    let loop = this.loops.get(group);
    if (!loop) {
      loop = new NodeLoop();
      this.loops.set(group, loop);
      const done = this.run(group, loop).finally(() => this.running.delete(done));
      this.running.add(done);
    }
    return loop;
  }

  /** Ids to read on one node, one list per slot (each list fits one XREAD). */
  private batchFor(group: string): string[][] {
    const out: string[][] = [];
    for (const [slot, ids] of this.bySlot) {
      if (this.groupOf(slot) !== group) continue;
      const list = [...ids];
      for (let i = 0; i < list.length; i += KEYS_PER_READ) out.push(list.slice(i, i + KEYS_PER_READ));
    }
    return out;
  }

  private async run(group: string, loop: NodeLoop): Promise<void> {
    let delay = 0;
    while (!this.closed) {
      const batch = this.batchFor(group);
      // No await between this check and the delete: an add() for this node starts a new loop.
      if (batch.length === 0) break;
      loop.kicked = false;
      try {
        delay = (await this.poll(batch)) ? 0 : Math.min(Math.max(1, delay * 2), this.opts.idlePollMs);
      } catch {
        delay = ERROR_PAUSE_MS;
      }
      if (delay > 0 && !loop.kicked && !this.closed) await loop.sleep(delay);
    }
    this.loops.delete(group);
    // Slots that moved to another node while this loop ran get polled there.
    this.ensureLoops();
  }

  /** One pipeline of per-slot XREADs to one node; true when any stream had entries. */
  private async poll(batch: string[][]): Promise<boolean> {
    const p = this.conn.pipeline();
    for (const ids of batch) {
      const args: (string | number)[] = ['COUNT', this.opts.count, 'STREAMS'];
      for (const id of ids) args.push(this.keys.events(id));
      for (const id of ids) args.push(offsetToEntryId(this.cursors.get(id) ?? 0));
      p.call('XREAD', ...args);
    }
    const results = (await p.exec()) ?? [];
    let flowed = false;
    let failure: Error | null = null;
    for (const [err, reply] of results) {
      if (err) failure ??= err;
      else if (reply) flowed = this.deliver(reply as NonNullable<XReadReply>) || flowed;
    }
    // Commands that did answer were delivered; the failed ones are read again after a pause.
    if (failure && !flowed) throw failure;
    return flowed;
  }

  /** Delivers contiguous new events; true when the reply carried any entry at all. */
  private deliver(reply: NonNullable<XReadReply>): boolean {
    let any = false;
    for (const [key, entries] of reply) {
      if (entries.length > 0) any = true;
      if (this.closed) continue;
      const id = this.keys.idOfEvents(key);
      if (id === null) continue;
      const start = this.cursors.get(id);
      if (start === undefined) continue; // removed while the poll was in flight
      const events = contiguousAfter(start, entries);
      if (events.length === 0) continue;
      const last = events[events.length - 1] as StoredEvent;
      this.cursors.set(id, last.offset);
      if (last.kind === 'end') this.remove(id); // nothing follows a terminal event
      this.onEvents(id, events);
    }
    return any;
  }
}

/** A node loop's sleep, cut short by wake(). */
class NodeLoop {
  /** Set by wake(): poll again without sleeping (an add() happened during the poll). */
  kicked = false;
  private cut: (() => void) | null = null;

  wake(): void {
    this.kicked = true;
    this.cut?.();
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.cut = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.cut = done;
    });
  }
}

/**
 * Redis Cluster's slot of a key: CRC16 (XMODEM) of the key, or of its hash tag (the text between
 * the first `{` and the next `}`, when not empty), modulo 16384.
 */
export function keySlot(key: string): number {
  let hashed = key;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(hashed, 'utf8')) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc & 16383;
}
