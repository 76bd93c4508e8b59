import { cursorAfter, entryIdOf, entryIdToOffset, eventTokens, type GenerationMeta, type StoredEvent, TokencastError } from '@tokencast/protocol';
import type { Redis } from 'ioredis';
import type { AppendResult, ClaimResult, GenerationStore, NewEvent, Tail, TailListener } from '../contracts.js';
import { MissingGenerationError } from '../errors.js';
import { AppendBatcher, type AppendBatchOptions } from './append-batch.js';
import { formatGone } from './bell.js';
import { eventToFields, fieldsToEvent, hashToMeta } from './codec.js';
import type { Keys } from './keys.js';
import type { ScriptArg, ScriptedRedis } from './scripts.js';
import { RedisTail, type RedisTailOptions } from './tail.js';

export interface RedisStoreOptions {
  ttlSeconds: number;
  tail: RedisTailOptions;
  /** Builds the live read path instead of RedisTail (Redis Cluster: a per-node ClusterTail). */
  openTail?: (onEvents: TailListener) => Tail;
  /** How appends are gathered into append.lua calls (append-batch.ts). */
  batch: Omit<AppendBatchOptions, 'epoch'>;
  /**
   * Longest time between two checkpoints of a generation being written, ms: its meta's
   * last_offset and tokens are written, and both keys' TTLs refreshed, at most this often
   * (and with the terminal event; a claim counts as one, a takeover's first append is one).
   */
  checkpointMs: number;
}

/** A checkpoint also after this many events, so getMeta never has far to read past last_offset. */
const CHECKPOINT_EVENTS = 256;
/** Writer states kept at most (one per generation this process writes; dropped at its end). */
const MAX_WRITERS = 100_000;

/**
 * What this process knows of a generation it writes: enough to checkpoint without reading, and
 * to tell when an append may take the fast path (a plain XADD, append-batch.ts).
 */
interface WriterState {
  /** The fence this state was built for: an append with another one is always careful. */
  fence: number;
  /** Model tokens of the generation up to `offset`. */
  tokens: number;
  offset: number;
  /** When and where the last checkpoint was written; 0: none yet by this process. */
  checkpointAt: number;
  checkpointOffset: number;
  /**
   * The writer connection's epoch (RedisGenerationStore.epoch) when a careful append of this
   * state last succeeded; -1: none yet. The fast path needs the current epoch: across a reconnect
   * Redis may have restarted without the newest events, and only append.lua notices that.
   */
  epoch: number;
  /**
   * When the generation's first model token was written (epoch ms); 0: none yet. A plain XADD
   * cannot write it to the meta, so every careful append passes it on and append.lua writes it
   * when the meta lacks it: at the latest with the next checkpoint or the terminal event, and
   * getMeta reads it from the events until then.
   */
  firstTokenAt: number;
}

export class RedisGenerationStore implements GenerationStore {
  private subscriber: Redis | null = null;
  private readonly cancelListeners = new Set<(id: string) => void>();
  private readonly batcher: AppendBatcher;
  private readonly writers = new Map<string, WriterState>();
  /** Counts the writer connection's losses (connectionLost): fast appends need a careful one since. */
  private epoch = 0;

  constructor(
    private readonly cmd: ScriptedRedis,
    /** The appends' connection: on one Redis its own, never re-sending a command after a reconnect. */
    writer: ScriptedRedis,
    private readonly makeBlocking: (name: string) => Redis,
    private readonly keys: Keys,
    private readonly opts: RedisStoreOptions,
  ) {
    this.batcher = new AppendBatcher(writer, { ...opts.batch, epoch: () => this.epoch });
  }

  /**
   * The meta as of now. Between checkpoints the hash's last_offset and tokens lag the stream
   * (append.lua): a generation still being written gets them from the events after last_offset.
   */
  async getMeta(id: string): Promise<GenerationMeta | null> {
    const meta = hashToMeta(await this.cmd.hgetall(this.keys.meta(id)));
    if (meta?.status !== 'running') return meta;
    for (;;) {
      const newer = await this.readEvents(id, meta.lastOffset, 1_000);
      for (const ev of newer) {
        meta.lastOffset = ev.offset;
        const tokens = eventTokens(ev);
        meta.tokens += tokens;
        // A first token that came by the fast path is in the meta from the next checkpoint on;
        // until then its time is the event's own (ms since accepted).
        if (tokens > 0 && meta.firstTokenAt === 0) meta.firstTokenAt = meta.createdAt + ((ev as { ms: number[] }).ms[0] ?? 0);
      }
      if (newer.length < 1_000) return meta;
    }
  }

  async newestOffset(id: string): Promise<number | null> {
    // Two small reads of one slot (same hash tag), sent together: whether the meta exists, and
    // the stream's newest entry id (between checkpoints the meta's last_offset lags the stream).
    const [exists, newest] = await Promise.all([this.cmd.exists(this.keys.meta(id)), this.cmd.xrevrange(this.keys.events(id), '+', '-', 'COUNT', 1)]);
    if (exists === 0) return null;
    const top = newest[0];
    return top ? entryIdToOffset(top[0]) : 0;
  }

  async readEvents(id: string, afterOffset: number, count: number): Promise<StoredEvent[]> {
    // `(` makes the start exclusive: one XRANGE replays from any offset.
    const entries = await this.cmd.xrange(this.keys.events(id), `(${cursorAfter(afterOffset)}`, '+', 'COUNT', count);
    const out: StoredEvent[] = [];
    for (const [entryId, fields] of entries) {
      const ev = fieldsToEvent(entryIdToOffset(entryId), fields);
      if (ev) out.push(ev);
    }
    return out;
  }

  async claim(id: string, producer: string): Promise<ClaimResult | null> {
    // Taken before the claim is sent: a writer connection lost after it makes the next append careful.
    const epoch = this.epoch;
    const bell = this.opts.batch.bellChannel ?? '';
    const reply = await this.cmd.tcClaim(this.keys.meta(id), this.keys.events(id), producer, Date.now(), this.opts.ttlSeconds, bell, JSON.stringify(id));
    if (!Array.isArray(reply)) return null; // missing, or ended
    const [fence, newest, flat] = reply;
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1] as string;
    // From here on only this claimer writes: the meta read now stays exact while it does. The
    // script read it with the claim; only events past the last checkpoint (a claim that takes
    // over a generation mid-way) need a read, for the tokens they carry.
    let meta = hashToMeta(hash);
    const exact = meta !== null && newest === meta.lastOffset;
    if (meta && newest > meta.lastOffset) meta = await this.getMeta(id);
    if (!meta) return null;
    const state = writerState(fence, meta);
    // The claim read the stream's newest offset, found the meta's counters exact and refreshed
    // both TTLs (claim-2.lua): as good as a careful append's checkpoint, so the first token can
    // be a plain XADD (a Redis Cluster saves a script call per generation). A takeover whose
    // counters lag the stream checkpoints at its first append; a stream behind its meta (a
    // rewind) goes careful too, and append.lua refuses the offset.
    if (exact) {
      state.epoch = epoch;
      state.checkpointAt = Date.now();
    }
    this.track(id, state);
    return { meta, fence };
  }

  async append(id: string, fence: number, afterOffset: number, events: readonly NewEvent[]): Promise<AppendResult> {
    let state = this.writers.get(id);
    if (!state || state.fence !== fence) {
      // A writer that did not claim through this process (or whose state was dropped): read once.
      const meta = await this.getMeta(id);
      if (!meta) throw new MissingGenerationError(id);
      state = writerState(fence, meta);
      // A stale writer's state must not replace the claimer's; it is refused at its append.
      if (!this.writers.has(id) || meta.fence === fence) this.track(id, state);
    }
    let tokens = 0;
    let end = '';
    const items: ScriptArg[] = [];
    const eventFields: string[][] = [];
    let fields: string[] = [];
    for (const ev of events) {
      fields = eventToFields(ev);
      eventFields.push(fields);
      items.push(fields.length, ...fields);
      tokens += eventTokens(ev);
      if (ev.kind === 'end') {
        end = JSON.stringify({
          status: ev.status,
          finish_reason: ev.finishReason,
          usage: JSON.stringify(ev.usage),
          error: ev.error ? JSON.stringify(ev.error) : '',
          completed_at: String(Date.now()),
        });
      }
    }
    const now = Date.now();
    const total = state.tokens + tokens;
    const checkpoint = end !== '' || now - state.checkpointAt >= this.opts.checkpointMs || afterOffset + events.length - state.checkpointOffset >= CHECKPOINT_EVENTS;
    const firstTokenAt = state.firstTokenAt || (tokens > 0 ? now : 0);
    const args: ScriptArg[] = [fence, afterOffset, events.length, firstTokenAt, checkpoint ? this.opts.ttlSeconds : 0, total, end, ...items];
    // The fast path: one event that needs nothing of the meta, right after the offset this
    // process last wrote for this fence (state is this fence's), with no reconnect since a
    // careful append or the claim.
    const epoch = this.epoch;
    const fast =
      events.length === 1 && end === '' && !checkpoint && state.epoch === epoch && state.offset === afterOffset
        ? { epoch, fence, offset: afterOffset + 1, entryId: entryIdOf(afterOffset + 1, fence), fields }
        : null;
    let last: number;
    try {
      last = await new Promise<number>((resolve, reject) => {
        this.batcher.push({ id, eventsKey: this.keys.events(id), metaKey: this.keys.meta(id), args, events: eventFields, fast, resolve, reject });
      });
    } catch (err) {
      // Fenced, ended or gone: this process writes the generation no more.
      if (err instanceof TokencastError && this.writers.get(id) === state) this.writers.delete(id);
      throw err;
    }
    if (end !== '') {
      if (this.writers.get(id) === state) this.writers.delete(id);
    } else if (this.writers.get(id) === state && last > state.offset) {
      // (A repeated append that was already applied and counted answers an offset not past it.)
      state.tokens = total;
      state.offset = last;
      if (!fast) state.epoch = epoch; // (a fast append may have fallen back: then it was careful too, but need not be counted)
      if (state.firstTokenAt === 0) state.firstTokenAt = firstTokenAt;
      if (checkpoint) {
        state.checkpointAt = now;
        state.checkpointOffset = last;
      }
    }
    return { lastOffset: last };
  }

  /**
   * The writer connection dropped (engine.ts): Redis may have restarted from a snapshot without
   * the newest events. Every writer's next append is careful, so append.lua compares offsets.
   */
  connectionLost(): void {
    this.epoch += 1;
    this.batcher.abortInFlight();
  }

  private track(id: string, state: WriterState): void {
    // Writers normally leave at their end; a bound keeps abandoned ones from piling up. Losing a
    // state costs one getMeta at that generation's next append, nothing else.
    if (this.writers.size >= MAX_WRITERS) this.writers.clear();
    this.writers.set(id, state);
  }

  async requestCancel(id: string): Promise<boolean> {
    const ok = Number(await this.cmd.tcCancel(this.keys.meta(id), Date.now())) === 1;
    if (ok) await this.cmd.publish(this.keys.cancelChannel, id);
    return ok;
  }

  async delete(id: string): Promise<boolean> {
    // Both keys share the generation's {id} hash tag: one DEL, valid on Redis Cluster too.
    const bell = this.opts.batch.bellChannel;
    if (bell === null) return Number(await this.cmd.del(this.keys.meta(id), this.keys.events(id))) > 0;
    // One Redis: announced in the same MULTI (bell.ts), so no ring of a write the deletion
    // refuses comes between the two.
    const replies = await this.cmd.multi().del(this.keys.meta(id), this.keys.events(id)).publish(bell, formatGone(id)).exec();
    const [err, deleted] = replies?.[0] ?? [new Error('the deletion was not answered'), 0];
    if (err) throw err;
    return Number(deleted) > 0;
  }

  onCancel(listener: (id: string) => void): () => void {
    if (!this.subscriber) {
      const sub = this.makeBlocking('tokencast:cancel');
      sub.on('message', (_channel: string, id: string) => {
        for (const l of this.cancelListeners) l(id);
      });
      sub.on('error', () => {});
      sub.subscribe(this.keys.cancelChannel).catch(() => {});
      this.subscriber = sub;
    }
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  openTail(onEvents: TailListener): Tail {
    if (this.opts.openTail) return this.opts.openTail(onEvents);
    return new RedisTail(this.makeBlocking('tokencast:reads'), this.makeBlocking('tokencast:tail'), this.keys, onEvents, this.opts.tail);
  }

  async close(): Promise<void> {
    this.subscriber?.disconnect(false);
    this.subscriber = null;
  }
}

function writerState(fence: number, meta: GenerationMeta): WriterState {
  return { fence, tokens: meta.tokens, offset: meta.lastOffset, checkpointAt: 0, checkpointOffset: meta.lastOffset, epoch: -1, firstTokenAt: meta.firstTokenAt };
}
