import { entryIdToOffset, eventToFields, eventTokens, fieldsToEvent, type GenerationMeta, type StoredEvent } from '@tokencast/protocol';
import type { Redis } from 'ioredis';
import type { AppendResult, ClaimResult, GenerationStore, NewEvent, Tail, TailListener } from '../contracts.js';
import { EndedError, FencedError, MissingGenerationError, OffsetMismatchError } from '../errors.js';
import { hashToMeta } from './codec.js';
import type { Keys } from './keys.js';
import type { ScriptedRedis } from './scripts.js';
import { RedisTail, type RedisTailOptions } from './tail.js';

export interface RedisStoreOptions {
  ttlSeconds: number;
  tail: RedisTailOptions;
  /** Builds the live read path instead of RedisTail (Redis Cluster: a per-node ClusterTail). */
  openTail?: (onEvents: TailListener) => Tail;
}

/** Errors raised by our own Lua scripts (their header lists them), mapped to typed errors. */
const SCRIPT_ERRORS: Record<string, (id: string) => Error> = {
  FENCED: (id) => new FencedError(id),
  ENDED: (id) => new EndedError(id),
  MISSING: (id) => new MissingGenerationError(id),
  OFFSET: (id) => new OffsetMismatchError(id),
};

export class RedisGenerationStore implements GenerationStore {
  private subscriber: Redis | null = null;
  private readonly cancelListeners = new Set<(id: string) => void>();

  constructor(
    private readonly cmd: ScriptedRedis,
    private readonly makeBlocking: (name: string) => Redis,
    private readonly keys: Keys,
    private readonly opts: RedisStoreOptions,
  ) {}

  async getMeta(id: string): Promise<GenerationMeta | null> {
    return hashToMeta(await this.cmd.hgetall(this.keys.meta(id)));
  }

  async readEvents(id: string, afterOffset: number, count: number): Promise<StoredEvent[]> {
    // `(` makes the start exclusive: one XRANGE replays from any offset.
    const entries = await this.cmd.xrange(this.keys.events(id), `(0-${afterOffset}`, '+', 'COUNT', count);
    const out: StoredEvent[] = [];
    for (const [entryId, fields] of entries) {
      const ev = fieldsToEvent(entryIdToOffset(entryId), fields);
      if (ev) out.push(ev);
    }
    return out;
  }

  async claim(id: string, producer: string): Promise<ClaimResult | null> {
    const fence = Number(await this.cmd.tcClaim(this.keys.meta(id), producer, Date.now()));
    if (fence <= 0) return null;
    const meta = await this.getMeta(id);
    return meta ? { meta, fence } : null;
  }

  async append(id: string, fence: number, afterOffset: number, events: readonly NewEvent[]): Promise<AppendResult> {
    let tokens = 0;
    let end = '';
    const args: (string | number)[] = [];
    for (const ev of events) {
      const fields = eventToFields(ev);
      args.push(fields.length, ...fields);
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
    const firstTokenAt = tokens > 0 ? Date.now() : 0;
    try {
      const last = await this.cmd.tcAppend(this.keys.events(id), this.keys.meta(id), fence, this.opts.ttlSeconds, tokens, firstTokenAt, end, events.length, afterOffset, ...args);
      return { lastOffset: Number(last) };
    } catch (err) {
      // Redis 7 prefixes a bare error_reply with "ERR " (so the reply is "ERR FENCED"): match the code word.
      const code = err instanceof Error ? /^(?:ERR )?([A-Z]+)$/.exec(err.message)?.[1] : undefined;
      const make = code === undefined ? undefined : SCRIPT_ERRORS[code];
      throw make ? make(id) : err;
    }
  }

  async requestCancel(id: string): Promise<boolean> {
    const ok = Number(await this.cmd.tcCancel(this.keys.meta(id), Date.now())) === 1;
    if (ok) await this.cmd.publish(this.keys.cancelChannel, id);
    return ok;
  }

  async delete(id: string): Promise<boolean> {
    // Both keys share the generation's {id} hash tag: one DEL, valid on Redis Cluster too.
    return Number(await this.cmd.del(this.keys.meta(id), this.keys.events(id))) > 0;
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
    return new RedisTail(this.makeBlocking('tokencast:tail'), this.cmd, this.keys, onEvents, this.opts.tail);
  }

  async close(): Promise<void> {
    this.subscriber?.disconnect(false);
    this.subscriber = null;
  }
}
