import type { Engine, JobQueue } from '../contracts.js';
import { MemoryKeyStore, MemoryLimiter, MemoryPresence } from './access.js';
import { MemoryDurableStore } from './durable.js';
import { MemoryJobQueue } from './queue.js';
import { MemoryGenerationStore } from './store.js';

/**
 * The single-process engine: the embedded default (`npm start` with no REDIS_URL) and the fast
 * half of the conformance suite. Same semantics as the Redis engine, including fencing, explicit
 * offsets and expiry, minus durability across restarts. Its parts sit in the files of the same
 * names as redis/'s: store.ts, queue.ts, access.ts (keys, limiter, presence), tail.ts, durable.ts.
 */
export interface MemoryEngineOptions {
  /** How long a generation lives after its last write, in seconds. Default 86 400 (one day). */
  ttlSeconds?: number;
}

export function createMemoryEngine(opts: MemoryEngineOptions = {}): Engine {
  const store = new MemoryGenerationStore((opts.ttlSeconds ?? 86_400) * 1000);
  const queues = new Map<string, JobQueue>();
  const queueFor = (name: string): JobQueue => {
    let q = queues.get(name);
    if (!q) {
      q = new MemoryJobQueue((meta) => store.create(meta));
      queues.set(name, q);
    }
    return q;
  };
  const queue = queueFor('default');
  const durable = new MemoryDurableStore();

  return {
    kind: 'memory',
    durable,
    store,
    queue,
    queueFor,
    keys: new MemoryKeyStore(),
    limiter: new MemoryLimiter(),
    presence: new MemoryPresence(),
    health: { reconnects: 0, errors: 0 },
    async ping() {},
    async preflight() {
      return [];
    },
    async close() {
      store.close();
      durable.close();
      for (const q of queues.values()) await q.close();
    },
  };
}
