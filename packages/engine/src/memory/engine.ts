import { EventEmitter } from 'node:events';
import { eventToFields, eventTokens, type GenerationMeta, type StoredEvent } from '@tokencast/protocol';
import type { AppendResult, ClaimResult, Engine, GenerationStore, Job, JobQueue, KeyStore, Limiter, NewEvent, Presence, QueueStats, Tail, TailListener } from '../contracts.js';
import { EndedError, FencedError, MissingGenerationError, OffsetMismatchError } from '../errors.js';
import { MemoryDurableStore } from './durable.js';
import { MemoryTail } from './tail.js';

/**
 * The single-process engine: the embedded default (`npm start` with no REDIS_URL) and the fast
 * half of the conformance suite. Same semantics as the Redis engine, including fencing, explicit
 * offsets and expiry, minus durability across restarts.
 */
interface Generation {
  meta: GenerationMeta;
  events: StoredEvent[];
  expiresAt: number;
}

interface PendingJob {
  job: Job;
  consumer: string;
  lastSeen: number;
}

export interface MemoryEngineOptions {
  ttlSeconds?: number;
}

export function createMemoryEngine(opts: MemoryEngineOptions = {}): Engine {
  const ttlMs = (opts.ttlSeconds ?? 86_400) * 1000;
  const gens = new Map<string, Generation>();
  const bus = new EventEmitter();
  bus.setMaxListeners(0);

  const live = (id: string): Generation | null => {
    const g = gens.get(id);
    if (!g) return null;
    if (g.expiresAt <= Date.now()) {
      gens.delete(id);
      return null;
    }
    return g;
  };
  // Expired generations are dropped lazily on access and by this sweep, so memory stays bounded.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, g] of gens) if (g.expiresAt <= now) gens.delete(id);
  }, 60_000);
  sweep.unref();

  const store: GenerationStore = {
    async getMeta(id) {
      const g = live(id);
      return g ? structuredClone(g.meta) : null;
    },
    async readEvents(id, afterOffset, count) {
      const g = live(id);
      if (!g) return [];
      // Offsets are 1-based and dense, so offset k sits at index k-1.
      return g.events.slice(afterOffset, afterOffset + count);
    },
    async claim(id, producer): Promise<ClaimResult | null> {
      const g = live(id);
      if (!g || g.meta.status === 'completed' || g.meta.status === 'failed' || g.meta.status === 'cancelled') return null;
      g.meta.fence += 1;
      g.meta.status = 'running';
      g.meta.producer = producer;
      if (!g.meta.startedAt) g.meta.startedAt = Date.now();
      return { meta: structuredClone(g.meta), fence: g.meta.fence };
    },
    async append(id, fence, afterOffset, events: readonly NewEvent[]): Promise<AppendResult> {
      const g = live(id);
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
      if (m.status === 'completed' || m.status === 'failed' || m.status === 'cancelled') throw new EndedError(id);
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
      g.expiresAt = Date.now() + ttlMs;
      bus.emit(`ev:${id}`, added);
      return { lastOffset: m.lastOffset };
    },
    async requestCancel(id) {
      const g = live(id);
      if (!g || g.meta.status === 'completed' || g.meta.status === 'failed' || g.meta.status === 'cancelled') return false;
      g.meta.cancelRequestedAt = Date.now();
      bus.emit('cancel', id);
      return true;
    },
    async delete(id) {
      return gens.delete(id);
    },
    onCancel(listener) {
      bus.on('cancel', listener);
      return () => bus.off('cancel', listener);
    },
    openTail(onEvents: TailListener): Tail {
      return new MemoryTail(bus, (id) => live(id)?.events ?? [], onEvents);
    },
  };

  /** One in-process queue per name, same semantics as the Redis queue. */
  const makeQueue = (): JobQueue => {
    const waiting: Job[] = [];
    const pending = new Map<string, PendingJob>();
    const dead: { job: Job; reason: string }[] = [];
    let seq = 0;
    const takers = new Set<() => void>();

    const queue: JobQueue = {
      async enqueue(meta) {
        gens.set(meta.id, { meta: structuredClone(meta), events: [], expiresAt: Date.now() + ttlMs });
        waiting.push({ jobId: `${Date.now()}-${seq++}`, generationId: meta.id, deliveries: 0 });
        for (const wake of takers) wake();
      },
      async take(consumer, count, blockMs) {
        if (waiting.length === 0 && blockMs > 0) {
          await new Promise<void>((resolve) => {
            const wake = () => {
              clearTimeout(timer);
              takers.delete(wake);
              resolve();
            };
            const timer = setTimeout(wake, blockMs);
            takers.add(wake);
          });
        }
        const jobs = waiting.splice(0, count);
        for (const j of jobs) {
          j.deliveries += 1;
          pending.set(j.jobId, { job: j, consumer, lastSeen: Date.now() });
        }
        return jobs.map((j) => ({ ...j }));
      },
      async reclaim(consumer, minIdleMs, count) {
        const now = Date.now();
        const out: Job[] = [];
        for (const p of pending.values()) {
          if (out.length >= count) break;
          if (now - p.lastSeen < minIdleMs) continue;
          p.job.deliveries += 1;
          p.consumer = consumer;
          p.lastSeen = now;
          out.push({ ...p.job });
        }
        return out;
      },
      async touch(consumer, jobIds) {
        for (const id of jobIds) {
          const p = pending.get(id);
          if (p) {
            p.consumer = consumer;
            p.lastSeen = Date.now();
          }
        }
      },
      async ack(jobId) {
        pending.delete(jobId);
      },
      async deadLetter(job, reason) {
        dead.push({ job, reason });
        pending.delete(job.jobId);
      },
      async stats(): Promise<QueueStats> {
        const byConsumer = new Map<string, { pending: number; lastSeen: number }>();
        for (const p of pending.values()) {
          const c = byConsumer.get(p.consumer) ?? { pending: 0, lastSeen: 0 };
          c.pending += 1;
          c.lastSeen = Math.max(c.lastSeen, p.lastSeen);
          byConsumer.set(p.consumer, c);
        }
        const now = Date.now();
        return {
          waiting: waiting.length,
          pending: pending.size,
          consumers: [...byConsumer].map(([name, c]) => ({ name, pending: c.pending, idleMs: now - c.lastSeen })),
        };
      },
      async close() {
        for (const wake of [...takers]) wake();
      },
    };
    return queue;
  };
  const queues = new Map<string, JobQueue>();
  const queueFor = (name: string): JobQueue => {
    let q = queues.get(name);
    if (!q) {
      q = makeQueue();
      queues.set(name, q);
    }
    return q;
  };
  const queue = queueFor('default');

  const keyNames = new Map<string, string>(); // hash → name
  const revoked = new Set<string>();
  const windows = new Map<string, number>();
  const keys: KeyStore = {
    async findByHash(hash) {
      return keyNames.get(hash) ?? null;
    },
    async add(name, hash) {
      keyNames.set(hash, name);
      revoked.delete(name);
    },
    async revoke(name) {
      if (revoked.has(name)) return false;
      revoked.add(name);
      return true;
    },
    async revoked() {
      return new Set(revoked);
    },
    async names() {
      return [...keyNames.values()];
    },
  };
  const limiter: Limiter = {
    async hit(key, windowMs) {
      const now = Date.now();
      const window = Math.floor(now / windowMs);
      const k = `${key}:${windowMs}:${window}`;
      const count = (windows.get(k) ?? 0) + 1;
      windows.set(k, count);
      // Old windows are dropped as new ones start, so the map holds about one entry per key.
      if (count === 1) windows.delete(`${key}:${windowMs}:${window - 1}`);
      return { count, resetMs: (window + 1) * windowMs - now };
    },
  };

  const marks = new Map<string, Map<string, number>>(); // generation → member → lapses at
  const presence: Presence = {
    async mark(id, member, ttlMs) {
      const m = marks.get(id) ?? new Map<string, number>();
      m.set(member, Date.now() + ttlMs);
      marks.set(id, m);
    },
    async unmark(id, member) {
      const m = marks.get(id);
      m?.delete(member);
      if (m && m.size === 0) marks.delete(id);
    },
    async count(id) {
      const now = Date.now();
      let n = 0;
      for (const until of marks.get(id)?.values() ?? []) if (until > now) n++;
      return n;
    },
  };

  const durable = new MemoryDurableStore();

  return {
    kind: 'memory',
    durable,
    store,
    queue,
    queueFor,
    keys,
    limiter,
    presence,
    health: { reconnects: 0, errors: 0 },
    async ping() {},
    async preflight() {
      return [];
    },
    async close() {
      clearInterval(sweep);
      durable.close();
      for (const q of queues.values()) await q.close();
    },
  };
}

function sameEvent(stored: StoredEvent | undefined, ev: NewEvent): boolean {
  if (!stored) return false;
  return eventToFields(stored).join('\u0000') === eventToFields(ev).join('\u0000');
}
