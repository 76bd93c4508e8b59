import type { GenerationStore, Presence, Tail } from '@tokencast/engine';
import { type GenerationMeta, HEARTBEAT_FRAME, NotFoundError, type StoredEvent } from '@tokencast/protocol';
import { Channel, type ChannelOptions } from './channel.js';
import type { Sink } from './sink.js';

export interface HubOptions extends ChannelOptions {
  /** Called once per delivered batch with the ms from the newest token's write to now. */
  onLag?: (ms: number) => void;
  /** For on_disconnect=cancel generations: where edges mark that they have viewers. */
  presence?: Presence;
  /** This edge's name in the presence marks. */
  instance?: string;
  /** How long a cancel-when-alone generation may have no viewer anywhere before it is cancelled, ms. */
  lastViewerGraceMs?: number;
  /** Comment line sent to idle viewers this often, ms (keeps proxies from cutting them). */
  heartbeatMs: number;
  /** How long a channel nobody watches is kept (a reconnecting viewer finds it warm), ms. */
  lingerMs: number;
  /** A live channel with no event for this long checks that its generation still exists, ms. */
  livenessCheckMs: number;
}

const HEARTBEAT = Buffer.from(HEARTBEAT_FRAME);

/**
 * The edge's fan-out: one Channel per generation being watched on this process, all fed by a
 * single Tail (one live read path for the whole process). Adding viewers costs the store nothing
 * once a channel is live; catch-up reads are shared between viewers that need the same range.
 */
export class Hub {
  private readonly channels = new Map<string, Channel>();
  private readonly loading = new Map<string, Promise<Channel>>();
  private readonly lingering = new Map<string, NodeJS.Timeout>();
  private readonly lastEventAt = new Map<string, number>();
  private readonly tail: Tail;
  private readonly heartbeatTimer: NodeJS.Timeout;
  /** Events pushed to the channels (not to viewers): for metrics and benchmarks. */
  eventsIn = 0;

  constructor(
    private readonly store: GenerationStore,
    private readonly opts: HubOptions,
  ) {
    this.tail = store.openTail((id, events) => this.onEvents(id, events));
    this.heartbeatTimer = setInterval(() => this.tick(), opts.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  get channelCount(): number {
    return this.channels.size;
  }

  get sinkCount(): number {
    let n = 0;
    for (const ch of this.channels.values()) n += ch.sinks.size;
    return n;
  }

  get followed(): number {
    return this.tail.size;
  }

  /** The channel of a generation, loaded on first use. NotFoundError for an unknown id. */
  async acquire(id: string): Promise<Channel> {
    let ch = this.channels.get(id);
    if (ch) this.unlinger(id);
    else {
      let p = this.loading.get(id);
      if (!p) {
        p = this.load(id).finally(() => this.loading.delete(id));
        this.loading.set(id, p);
      }
      ch = await p;
    }
    // Held until attach() or release(): a channel someone is about to use never lingers away.
    ch.holds += 1;
    return ch;
  }

  /**
   * The channel of a generation this edge is about to queue (routes/completions.ts accept), made
   * from the meta in hand and followed as unwritten (Tail.add): its first viewer reads neither
   * the meta nor the stream (issue #13: two round trips per generation on a Redis Cluster, one on
   * one Redis). Held: `release` it once queued, `unseed` it when queueing failed. Null when the
   * id is known here already (it never is: ids are new).
   */
  seed(meta: GenerationMeta): Channel | null {
    if (this.channels.has(meta.id) || this.loading.has(meta.id)) return null;
    const ch = this.open(meta, true);
    ch.holds = 1;
    return ch;
  }

  /** A seeded generation was not queued: forget it (nobody can have attached to it). */
  unseed(ch: Channel): void {
    if (this.channels.get(ch.id) !== ch || ch.sinks.size > 0) {
      this.release(ch);
      return;
    }
    this.forget(ch);
  }

  /** Attach a sink; the channel is released (after lingerMs) once its last sink leaves. */
  attach(ch: Channel, sink: Sink): void {
    ch.holds = Math.max(0, ch.holds - 1);
    this.unlinger(ch.id);
    ch.attach(sink);
    if (ch.cancelWhenAlone && ch.sinks.size === 1) this.markPresent(ch);
  }

  /**
   * Give back a channel that was acquired but got no sink (the request failed its checks, or had
   * nothing left to send): without this it would never linger, and stay followed forever.
   */
  release(ch: Channel): void {
    ch.holds = Math.max(0, ch.holds - 1);
    if (ch.sinks.size === 0) this.linger(ch);
  }

  detach(ch: Channel, sink: Sink): void {
    const had = ch.sinks.has(sink);
    ch.detach(sink);
    if (ch.sinks.size === 0) {
      this.linger(ch);
      if (had && ch.cancelWhenAlone && !ch.ended) this.lastViewerLeft(ch);
    }
  }

  private markPresent(ch: Channel): void {
    const { presence, instance } = this.opts;
    if (!presence || !instance) return;
    presence.mark(ch.id, instance, this.opts.heartbeatMs * 3).catch(() => {});
  }

  /**
   * The last viewer on this edge left a cancel-when-alone generation: after the grace period,
   * cancel it unless a viewer is back here or present on another edge.
   */
  private lastViewerLeft(ch: Channel): void {
    const { presence, instance } = this.opts;
    if (!presence || !instance) return;
    presence.unmark(ch.id, instance).catch(() => {});
    const t = setTimeout(async () => {
      if (ch.sinks.size > 0 || ch.ended) return;
      try {
        if ((await presence.count(ch.id)) === 0) await this.store.requestCancel(ch.id);
      } catch {
        // The store is unreachable: keep generating rather than cancel on a guess.
      }
    }, this.opts.lastViewerGraceMs ?? 5_000);
    t.unref();
  }

  /**
   * End every viewer of generations owned by these key names (revoked keys): the key's own
   * streams and those of the read tokens it issued. Owner '' (keys off) never matches.
   */
  failOwnedBy(owners: ReadonlySet<string>, code: string, message: string): number {
    let n = 0;
    for (const ch of this.channels.values()) {
      if (ch.owner === '' || !owners.has(ch.owner)) continue;
      for (const s of [...ch.sinks]) {
        s.fail(code, message, false);
        n += 1;
      }
    }
    return n;
  }

  /** Tell every viewer to reconnect (to another edge): used when draining. */
  redirectAll(retryMs: number): void {
    for (const ch of this.channels.values()) for (const s of ch.sinks) s.redirect?.(retryMs);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    for (const t of this.lingering.values()) clearTimeout(t);
    this.lingering.clear();
    await this.tail.close();
  }

  private async load(id: string): Promise<Channel> {
    const meta = await this.store.getMeta(id);
    if (!meta) throw new NotFoundError(`generation ${id} not found`, 'generation_not_found', { param: 'id' });
    return this.open(meta, false);
  }

  /** A channel made from the meta, registered, and followed unless ended (`unwritten`: Tail.add). */
  private open(meta: GenerationMeta, unwritten: boolean): Channel {
    const ch = new Channel(meta.id, meta, this.store, this.opts);
    this.channels.set(meta.id, ch);
    this.lastEventAt.set(meta.id, Date.now());
    if (!ch.ended) this.tail.add(meta.id, ch.lastOffset, unwritten);
    return ch;
  }

  /** The channel is no longer this edge's: not registered, not followed. */
  private forget(ch: Channel): void {
    this.channels.delete(ch.id);
    this.lastEventAt.delete(ch.id);
    this.tail.remove(ch.id);
  }

  private onEvents(id: string, events: StoredEvent[]): void {
    const ch = this.channels.get(id);
    if (!ch) return;
    this.eventsIn += events.length;
    const now = Date.now();
    this.lastEventAt.set(id, now);
    ch.append(events);
    const last = events[events.length - 1];
    if (this.opts.onLag && last && last.kind !== 'end' && last.kind !== 'tool_call' && last.ms.length > 0)
      this.opts.onLag(now - (ch.createdAt + (last.ms[last.ms.length - 1] as number)));
  }

  private linger(ch: Channel): void {
    if (this.lingering.has(ch.id)) return;
    const t = setTimeout(() => {
      this.lingering.delete(ch.id);
      // The channel may have been replaced meanwhile (rewound, reloaded): never drop the new one.
      if (ch.sinks.size > 0 || ch.holds > 0 || this.channels.get(ch.id) !== ch) return;
      this.forget(ch);
    }, this.opts.lingerMs);
    t.unref();
    this.lingering.set(ch.id, t);
  }

  private unlinger(id: string): void {
    const t = this.lingering.get(id);
    if (t) {
      clearTimeout(t);
      this.lingering.delete(id);
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const ch of this.channels.values()) {
      for (const s of ch.sinks) s.heartbeat?.(HEARTBEAT);
      if (ch.cancelWhenAlone && !ch.ended && ch.sinks.size > 0) this.markPresent(ch);
      const quiet = now - (this.lastEventAt.get(ch.id) ?? now);
      if (!ch.ended && ch.sinks.size > 0 && quiet >= this.opts.livenessCheckMs) {
        this.lastEventAt.set(ch.id, now);
        void this.checkAlive(ch);
      }
    }
  }

  /**
   * A generation whose keys vanished (Redis restarted empty, or evicted), or whose log went back
   * in time, would leave its viewers waiting forever or splice two texts: tell them instead.
   */
  private async checkAlive(ch: Channel): Promise<void> {
    // What the channel had seen before the read is issued: the tail may deliver newer events
    // while the read is in flight, and those must not pass for a store that went back in time.
    const seen = ch.lastOffset;
    let newest: number | null;
    try {
      newest = await this.store.newestOffset(ch.id);
    } catch {
      return; // unreachable: the next tick checks again
    }
    if (newest === null) {
      for (const s of [...ch.sinks]) s.fail('generation_lost', 'this generation is no longer in the store', false);
      return;
    }
    if (newest < seen && this.channels.get(ch.id) === ch) {
      // The store went back in time (a Redis restart that lost its last writes): offsets past
      // `newest` may be written again with other content. Viewers must not splice two
      // texts: end them with an explicit error, and forget the channel so new viewers start clean.
      for (const s of [...ch.sinks]) s.fail('generation_rewound', `the store lost events after offset ${newest}; start again from there or from 0`, false);
      this.forget(ch);
    }
  }
}
