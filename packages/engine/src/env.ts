import type { Engine } from './contracts.js';
import { ConfigError } from './errors.js';
import { createMemoryEngine } from './memory/engine.js';
import { clusterSeeds } from './redis/connection.js';
import { createRedisEngine } from './redis/engine.js';

/** Reading configuration from the environment, with defaults and a clear error (ConfigError) for bad values. */

type Env = Record<string, string | undefined>;

export function envString(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

export function envInt(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function envNumber(env: Env, name: string, fallback: number, min = 0): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new ConfigError(`${name} must be a number ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** true / 1 / yes, false / 0 / no (any case); unset or empty: the fallback. */
export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(v)}`);
}

export function envList(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface EngineConfig {
  /** Unset: the in-process memory engine (embedded mode only). With `cluster`: seed nodes, comma-separated. */
  redisUrl: string | null;
  /** REDIS_CLUSTER=true: REDIS_URL names nodes of a Redis Cluster. */
  cluster: boolean;
  /** Cluster only: doorbell shards; each edge blocks on each (REDIS_CLUSTER_BELLS, default 8). */
  clusterBells: number;
  prefix: string;
  ttlSeconds: number;
  blockMs: number;
  watchdogMarginMs: number;
  commandTimeoutMs: number;
  /** REDIS_ALLOW_EVICTION=true: start even when Redis may evict keys (see preflight). */
  allowEviction: boolean;
}

export function engineConfig(env: Env): EngineConfig {
  const redisUrl = env.REDIS_URL ? env.REDIS_URL : null;
  const cluster = envBool(env, 'REDIS_CLUSTER', false);
  if (redisUrl && cluster) {
    try {
      clusterSeeds(redisUrl);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  } else if (redisUrl?.includes(',')) {
    throw new ConfigError('REDIS_URL names several servers: set REDIS_CLUSTER=true for a Redis Cluster');
  }
  if (cluster && !redisUrl) throw new ConfigError('REDIS_CLUSTER=true needs REDIS_URL (the cluster nodes, comma-separated)');
  return {
    redisUrl,
    cluster,
    clusterBells: envInt(env, 'REDIS_CLUSTER_BELLS', 8, 1, 1_024),
    prefix: envString(env, 'TOKENCAST_KEY_PREFIX', 'tc'),
    ttlSeconds: envInt(env, 'GENERATION_TTL_SECONDS', 86_400, 1),
    blockMs: envInt(env, 'REDIS_BLOCK_MS', 5_000, 10),
    watchdogMarginMs: envInt(env, 'REDIS_WATCHDOG_MARGIN_MS', 5_000, 100),
    commandTimeoutMs: envInt(env, 'REDIS_COMMAND_TIMEOUT_MS', 5_000, 0),
    allowEviction: env.REDIS_ALLOW_EVICTION === 'true',
  };
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
  });
}
