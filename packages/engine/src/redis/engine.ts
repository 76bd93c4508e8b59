import { TokencastError } from '@tokencast/protocol';
import type { Engine } from '../contracts.js';
import { RedisKeyStore, RedisLimiter, RedisPresence } from './access.js';
import { StoreUnavailableError } from '../errors.js';
import { blockingConnection, commandConnection } from './connection.js';
import { Keys } from './keys.js';
import { RedisJobQueue } from './queue.js';
import { withScripts } from './scripts.js';
import { RedisGenerationStore } from './store.js';

export interface RedisEngineOptions {
  url: string;
  /** Key prefix; every key tokencast writes starts with `<prefix>:`. */
  prefix?: string;
  /** How long a generation's stream and meta live after their last write, in seconds. */
  ttlSeconds?: number;
  /** Name for CLIENT LIST (role of the process). */
  name?: string;
  /** BLOCK of the tail's and the queue's blocking reads, ms. */
  blockMs?: number;
  /** How long past BLOCK a blocking read may run before its connection is recycled, ms. */
  watchdogMarginMs?: number;
  /** ms before an ordinary command fails (0: never). */
  commandTimeoutMs?: number;
}

export function createRedisEngine(o: RedisEngineOptions): Engine {
  const name = o.name ?? 'tokencast';
  const keys = new Keys(o.prefix ?? 'tc');
  const ttl = o.ttlSeconds ?? 86_400;
  const blockMs = o.blockMs ?? 5_000;
  const margin = o.watchdogMarginMs ?? 5_000;
  const cmd = withScripts(commandConnection({ url: o.url, name, commandTimeoutMs: o.commandTimeoutMs ?? 5_000 }));
  cmd.on('error', () => {}); // ioredis reconnects by itself; failed commands reject and are handled there
  const blocking: Array<{ disconnect(reconnect?: boolean): void }> = [];
  const makeBlocking = (role: string) => {
    const c = blockingConnection({ url: o.url, name: `${name}:${role}` });
    c.on('error', () => {});
    blocking.push(c);
    return c;
  };
  const store = new RedisGenerationStore(cmd, makeBlocking, keys, { ttlSeconds: ttl, tail: { blockMs, watchdogMarginMs: margin, count: 512 } });
  const queue = new RedisJobQueue(cmd, () => makeBlocking('queue'), keys, ttl, margin);
  return {
    kind: 'redis',
    store: asUnavailable(store),
    queue: asUnavailable(queue),
    keys: asUnavailable(new RedisKeyStore(cmd, keys)),
    limiter: asUnavailable(new RedisLimiter(cmd, keys)),
    presence: asUnavailable(new RedisPresence(cmd, keys)),
    async ping() {
      try {
        await cmd.ping();
      } catch (err) {
        throw new StoreUnavailableError(err);
      }
    },
    async close() {
      await queue.close();
      await store.close();
      for (const c of blocking) c.disconnect(false);
      cmd.disconnect(false);
    },
  };
}

/**
 * Any failure that is not one of ours (connection closed, retries exhausted, timeout) means the
 * store cannot be reached right now: callers see one typed StoreUnavailableError (a 503).
 */
function asUnavailable<T extends object>(target: T): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const out = (value as (...a: unknown[]) => unknown).apply(t, args);
        if (!(out instanceof Promise)) return out;
        return out.catch((err: unknown) => {
          throw err instanceof TokencastError ? err : new StoreUnavailableError(err);
        });
      };
    },
  });
}
