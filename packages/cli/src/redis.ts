import { Keys } from '@tokencast/engine';
import { Redis } from 'ioredis';
import { type Ctx, Unreachable, UsageError } from './context.js';

/**
 * A short-lived Redis connection for one operator command: fails within seconds when Redis is
 * not there (a CLI must not hang), and is closed by the caller.
 */
export async function openRedis(ctx: Ctx, command: string): Promise<{ redis: Redis; keys: Keys }> {
  if (!ctx.redisUrl) throw new UsageError(`tokencast ${command} reads Redis directly: set REDIS_URL or pass --redis URL`);
  const keys = keysFor(ctx.prefix);
  const redis = new Redis(ctx.redisUrl, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => (times > 2 ? null : 100 * times),
    connectionName: 'tokencast:cli',
  });
  // connect() only says "Connection is closed"; the socket's own error says why.
  let lastError: Error | null = null;
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Unreachable(`cannot reach Redis at ${ctx.redisUrlShown}: ${(lastError ?? (err as Error)).message}`);
  }
  return { redis, keys };
}

/** A redis-cli command line an operator can paste (keys with braces quoted for the shell). */
export function redisCli(ctx: Ctx, ...args: string[]): string {
  const quoted = args.map((a) => (/^[A-Za-z0-9_.:+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  return `redis-cli -u ${ctx.redisUrlShown} ${quoted.join(' ')}`;
}

/** The engine's key builder for a prefix; a prefix it refuses is a usage error. */
export function keysFor(prefix: string): Keys {
  try {
    return new Keys(prefix);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
