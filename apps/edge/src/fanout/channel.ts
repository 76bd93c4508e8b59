import type { GenerationStore } from '@tokencast/engine';
import {
  type AnthropicContext,
  anthropicPreamble,
  encodeAnthropicEvent,
  encodeSseEvent,
  encodeWsEvent,
  type GenerationMeta,
  type ResponsesContext,
  responsesContext,
  type StoredEvent,
  type WireContext,
  wireContext,
} from '@tokencast/protocol';
import { type Entry, joinFrames, type Sink } from './sink.js';

export interface ChannelOptions {
  /** Newest events kept in memory per generation, for viewers that fall a little behind. */
  windowSize: number;
  /**
   * Bytes of encoded frames the window may hold per generation (EDGE_WINDOW_BYTES); 0: no byte
   * bound. Older entries leave first; an event larger than this is delivered live but never kept
   * (viewers behind it read it from the store). Bounds what one huge upstream token costs an edge.
   */
  windowBytes?: number;
  /** Events per catch-up read from the store. */
  readBatch: number;
}

/**
 * Everything one edge process does for one generation: the recent window of encoded events,
 * the viewers that are live (at the head) and the ones catching up. Invariant: a live sink's
 * cursor equals `lastOffset`, so one pushed batch fits every live sink and is built once.
 */
export class Channel {
  readonly ctx: WireContext;
  /** Name of the API key that created the generation ('' without keys): for access checks. */
  readonly owner: string;
  /** Epoch ms the generation was accepted: token times are stored relative to it. */
  readonly createdAt: number;
  /** Cancel the generation once no viewer is left anywhere (the request's on_disconnect). */
  readonly cancelWhenAlone: boolean;
  /** The wire format the generation was created with: its viewers' default. */
  readonly api: 'openai' | 'anthropic' | 'responses';
  /** What a Responses viewer's encoder needs (the request is echoed in every Response object). */
  readonly responses: ResponsesContext;
  /** Offset of the newest event this channel knows of. */
  lastOffset: number;
  /** True once the terminal event is known. */
  ended: boolean;
  /** Requests that acquired this channel and have not attached a sink or released it yet. */
  holds = 0;
  readonly live = new Set<Sink>();
  readonly sinks = new Set<Sink>();
  private window: Entry[] = [];
  /** Sum of the window's frame lengths. */
  private windowBytes = 0;
  /** Offset of window[0] (when the window is empty: lastOffset + 1). */
  private windowStart: number;
  /** Catch-up reads in flight, by the offset they read after: concurrent joiners share them. */
  private readonly reads = new Map<number, Promise<Entry[]>>();
  /** Sinks whose cursor is past lastOffset, waiting for the tail to catch up with them. */
  private readonly ahead = new Set<Sink>();

  constructor(
    readonly id: string,
    meta: GenerationMeta,
    private readonly store: GenerationStore,
    private readonly opts: ChannelOptions,
  ) {
    this.ctx = wireContext(meta);
    this.owner = meta.owner;
    this.createdAt = meta.createdAt;
    this.api = meta.request.api ?? 'openai';
    this.responses = responsesContext(meta);
    this.cancelWhenAlone = meta.request.onDisconnect === 'cancel';
    this.lastOffset = meta.lastOffset;
    this.ended = meta.status === 'completed' || meta.status === 'failed' || meta.status === 'cancelled';
    this.windowStart = this.lastOffset + 1;
  }

  encode(ev: StoredEvent): Entry {
    return { ev, frame: Buffer.from(encodeSseEvent(this.ctx, ev)) };
  }

  /** The entry as Anthropic SSE frames, encoded once per channel. */
  anthropicFrame(entry: Entry): Buffer {
    entry.anthropic ??= Buffer.from(encodeAnthropicEvent(entry.ev));
    return entry.anthropic;
  }

  /** message_start and content_block_start, sent before the first event of an Anthropic viewer. */
  anthropicPreamble(): string {
    const ctx: AnthropicContext = { id: this.id, model: this.ctx.model, inputTokens: 0 };
    return anthropicPreamble(ctx);
  }

  /** The WebSocket message of an entry, encoded once per channel. */
  wsMessage(entry: Entry): string {
    entry.ws ??= encodeWsEvent(this.ctx, entry.ev);
    return entry.ws;
  }

  /** New events from the tail, in order, starting at lastOffset + 1. */
  append(events: readonly StoredEvent[]): void {
    const first = events[0];
    if (!first || first.offset !== this.lastOffset + 1) return; // not contiguous: the tail re-reads
    const entries = events.map((ev) => this.encode(ev));
    this.window.push(...entries);
    for (const e of entries) this.windowBytes += e.frame.length;
    this.lastOffset = (entries[entries.length - 1] as Entry).ev.offset;
    if (entries[entries.length - 1]?.ev.kind === 'end') this.ended = true;
    // Trim by count, then by bytes, oldest first.
    const maxBytes = this.opts.windowBytes ?? 0;
    let drop = Math.max(0, this.window.length - this.opts.windowSize);
    for (let i = 0; i < drop; i++) this.windowBytes -= (this.window[i] as Entry).frame.length;
    while (maxBytes > 0 && drop < this.window.length && this.windowBytes > maxBytes) {
      this.windowBytes -= (this.window[drop] as Entry).frame.length;
      drop += 1;
    }
    if (drop > 0) this.window.splice(0, drop);
    if (this.window.length === 0) this.windowStart = this.lastOffset + 1;
    else this.windowStart = (this.window[0] as Entry).ev.offset;
    let joined: Buffer | null = null;
    for (const sink of this.live) {
      if (sink.closed) {
        this.live.delete(sink);
        continue;
      }
      joined ??= joinFrames(entries); // hot path: built once, the same bytes to every live viewer
      if (!sink.push(entries, joined)) this.live.delete(sink);
    }
    // After the live push: a parked sink that catches up now must not also get this batch.
    for (const sink of this.ahead) {
      if (sink.closed || sink.cursor <= this.lastOffset) {
        this.ahead.delete(sink);
        if (!sink.closed) void this.catchUp(sink);
      }
    }
  }

  /** Bytes of encoded frames the window holds now (bounded by windowBytes). */
  get retainedBytes(): number {
    return this.windowBytes;
  }

  /** Attach a sink at its cursor; it catches up, then joins the live set. */
  attach(sink: Sink): void {
    this.sinks.add(sink);
    sink.onResume(() => void this.catchUp(sink));
    void this.catchUp(sink);
  }

  detach(sink: Sink): void {
    this.live.delete(sink);
    this.ahead.delete(sink);
    this.sinks.delete(sink);
  }

  /**
   * Brings a sink from its cursor to the head: from the window when it covers the cursor, from
   * the store otherwise, in batches; then adds it to the live set. The check and the join happen
   * in one synchronous step, so no event can fall between catching up and going live.
   */
  async catchUp(sink: Sink): Promise<void> {
    while (!sink.closed) {
      if (sink.cursor > this.lastOffset) {
        // The viewer has seen more than our tail delivered so far (another edge served it):
        // park it until the tail reaches its cursor, so nothing is pushed to it twice.
        this.ahead.add(sink);
        return;
      }
      if (sink.cursor === this.lastOffset) {
        if (!this.ended) this.live.add(sink);
        return;
      }
      let entries: Entry[];
      if (sink.cursor + 1 >= this.windowStart) {
        entries = this.window.slice(sink.cursor + 1 - this.windowStart);
      } else {
        try {
          entries = await this.readShared(sink.cursor);
        } catch {
          sink.fail('store_unavailable', 'the stream store is unavailable; reconnect to resume', true);
          return;
        }
        if (sink.closed) return;
        // The store may be ahead of our tail; events past lastOffset come through the tail, or a
        // viewer that joins live would get them twice.
        entries = entries.filter((e) => e.ev.offset <= this.lastOffset && e.ev.offset > sink.cursor);
        if (entries.length === 0 || (entries[0] as Entry).ev.offset !== sink.cursor + 1) {
          // The store no longer holds the next event (expired, trimmed, deleted): say so, never
          // jump silently to whatever it still has.
          sink.fail('offset_gone', `events after offset ${sink.cursor} are no longer available`, false);
          return;
        }
      }
      if (!sink.push(entries, null)) return; // paused: resumes via onResume
    }
  }

  private readShared(after: number): Promise<Entry[]> {
    let p = this.reads.get(after);
    if (!p) {
      p = this.store
        .readEvents(this.id, after, this.opts.readBatch)
        .then((evs) => evs.map((ev) => this.encode(ev)))
        .finally(() => this.reads.delete(after));
      this.reads.set(after, p);
    }
    return p;
  }
}
