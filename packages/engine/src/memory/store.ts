import { EventEmitter } from 'node:events';
import { eventTokens, type GenerationMeta, isTerminalStatus, type StoredEvent } from '@tokencast/protocol';
import type { AppendResult, ClaimResult, GenerationStore, NewEvent, Tail, TailListener } from '../contracts.js';
import { EndedError, FencedError, MissingGenerationError, OffsetMismatchError } from '../errors.js';
import { eventToFields } from '../redis/codec.js';
import { MemoryTail } from './tail.js';

interface Generation {
  meta: GenerationMeta;
  events: StoredEvent[];
  /** Epoch ms after which the generation is gone. */
  expiresAt: number;
}

/**
 * Generations in one process (redis/store.ts's counterpart): meta and events in a map, with the
 * same fencing, explicit offsets and expiry as append.lua. An in-process bus rings `ev:<id>`
 * after each append (the tail listens, tail.ts) and `cancel` after each cancel request.
 */
export class MemoryGenerationStore implements GenerationStore {
  private readonly gens = new Map<string, Generation>();
  private readonly bus = new EventEmitter();
  private readonly sweep: NodeJS.Timeout;

  /** `ttlMs`: how long a generation lives after its creation or last append. */
  constructor(private readonly ttlMs: number) {
    this.bus.setMaxListeners(0);
    // Expired generations are dropped lazily on access and by this sweep, so memory stays bounded.
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const [id, g] of this.gens) if (g.expiresAt <= now) this.gens.delete(id);
    }, 60_000);
    this.sweep.unref();
  }

  /** Stores a new generation's meta (the queue's enqueue, as RedisJobQueue writes the meta hash). */
  create(meta: GenerationMeta): void {
    this.gens.set(meta.id, { meta: structuredClone(meta), events: [], expiresAt: Date.now() + this.ttlMs });
  }

  async getMeta(id: string): Promise<GenerationMeta | null> {
    const g = this.live(id);
    return g ? structuredClone(g.meta) : null;
  }

  async newestOffset(id: string): Promise<number | null> {
    const g = this.live(id);
    return g ? g.events.length : null; // offsets are 1-based and dense
  }

  async readEvents(id: string, afterOffset: number, count: number): Promise<StoredEvent[]> {
    const g = this.live(id);
    if (!g) return [];
    // Offsets are 1-based and dense, so offset k sits at index k-1.
    return g.events.slice(afterOffset, afterOffset + count);
  }

  async claim(id: string, producer: string): Promise<ClaimResult | null> {
    const g = this.live(id);
    if (!g || isTerminalStatus(g.meta.status)) return null;
    g.meta.fence += 1;
    g.meta.status = 'running';
    g.meta.producer = producer;
    if (!g.meta.startedAt) g.meta.startedAt = Date.now();
    return { meta: structuredClone(g.meta), fence: g.meta.fence };
  }

  async append(id: string, fence: number, afterOffset: number, events: readonly NewEvent[]): Promise<AppendResult> {
    const g = this.live(id);
    if (!g) throw new MissingGenerationError(id);
    if (g.meta.fence !== fence) throw new FencedError(id);
    const m = g.meta;
    // A retry of an applied append (its reply was lost) answers the same and writes nothing;
    // it is recognised by its last event being the newest stored one, not by the offsets alone.
    if (events.length > 0 && m.lastOffset === afterOffset + events.length) {
      if (sameEvent(g.events[m.lastOffset - 1], events[events.length - 1] as NewEvent)) return { lastOffset: m.lastOffset };
      throw new OffsetMismatchError(id);
    }
    if (m.lastOffset !== afterOffset) throw new OffsetMismatchError(id);
    if (isTerminalStatus(m.status)) throw new EndedError(id);
    const added: StoredEvent[] = [];
    for (const ev of events) {
      const stored = { ...ev, offset: ++m.lastOffset } as StoredEvent;
      g.events.push(stored);
      added.push(stored);
      if (stored.kind !== 'end') {
        m.tokens += eventTokens(stored);
        if (!m.firstTokenAt && eventTokens(stored) > 0) m.firstTokenAt = Date.now();
      } else {
        m.status = stored.status;
        m.finishReason = stored.finishReason;
        m.usage = stored.usage;
        m.error = stored.error;
        m.completedAt = Date.now();
      }
    }
    g.expiresAt = Date.now() + this.ttlMs;
    this.bus.emit(`ev:${id}`, added);
    return { lastOffset: m.lastOffset };
  }

  async requestCancel(id: string): Promise<boolean> {
    const g = this.live(id);
    if (!g || isTerminalStatus(g.meta.status)) return false;
    g.meta.cancelRequestedAt = Date.now();
    this.bus.emit('cancel', id);
    return true;
  }

  async delete(id: string): Promise<boolean> {
    return this.gens.delete(id);
  }

  onCancel(listener: (id: string) => void): () => void {
    this.bus.on('cancel', listener);
    return () => this.bus.off('cancel', listener);
  }

  openTail(onEvents: TailListener): Tail {
    return new MemoryTail(this.bus, (id) => this.live(id)?.events ?? [], onEvents);
  }

  close(): void {
    clearInterval(this.sweep);
  }

  /** The generation, or null when unknown or expired (an expired one is dropped here). */
  private live(id: string): Generation | null {
    const g = this.gens.get(id);
    if (!g) return null;
    if (g.expiresAt <= Date.now()) {
      this.gens.delete(id);
      return null;
    }
    return g;
  }
}

/** Same event as stored: compared as Redis would store them, so both engines agree on a retry. */
function sameEvent(stored: StoredEvent | undefined, ev: NewEvent): boolean {
  if (!stored) return false;
  return eventToFields(stored).join('\u0000') === eventToFields(ev).join('\u0000');
}
