import type { Engine } from './contracts.js';
import { createMemoryEngine } from './memory/engine.js';
import { createRedisEngine } from './redis/engine.js';

/** Which engine a process runs on, and its settings (read from the environment by @tokencast/runtime's config). */
export interface EngineConfig {
  /** null: the in-process memory engine (embedded mode only). With `cluster`: seed nodes, comma-separated. */
  redisUrl: string | null;
  /** REDIS_URL names nodes of a Redis Cluster. */
  cluster: boolean;
  /** Cluster only: doorbell shards; each edge blocks on each. */
  clusterBells: number;
  prefix: string;
  ttlSeconds: number;
  blockMs: number;
  watchdogMarginMs: number;
  /** 0: no timeout. */
  commandTimeoutMs: number;
  /** ms an append waits for others to share its script call; 0: the end of the event loop turn. */
  appendBatchMs: number;
  /** Start even when Redis may evict keys (see preflight). */
  allowEviction: boolean;
}

export function createEngine(c: EngineConfig, name: string): Engine {
  if (!c.redisUrl) return createMemoryEngine({ ttlSeconds: c.ttlSeconds });
  return createRedisEngine({
    url: c.redisUrl,
    cluster: c.cluster,
    clusterBells: c.clusterBells,
    prefix: c.prefix,
    ttlSeconds: c.ttlSeconds,
    name,
    blockMs: c.blockMs,
    watchdogMarginMs: c.watchdogMarginMs,
    commandTimeoutMs: c.commandTimeoutMs,
    allowEviction: c.allowEviction,
    appendBatchMs: c.appendBatchMs,
  });
}
