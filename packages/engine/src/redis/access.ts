import type { Redis } from 'ioredis';
import type { KeyStore, Limiter, Presence } from '../contracts.js';
import type { Keys } from './keys.js';

export class RedisKeyStore implements KeyStore {
  constructor(
    private readonly cmd: Redis,
    private readonly keys: Keys,
  ) {}

  async findByHash(hash: string): Promise<string | null> {
    return this.cmd.hget(this.keys.apiKeys, hash);
  }

  async add(name: string, hash: string): Promise<void> {
    await this.cmd.hset(this.keys.apiKeys, hash, name);
    await this.cmd.srem(this.keys.revoked, name);
  }

  async revoke(name: string): Promise<boolean> {
    return (await this.cmd.sadd(this.keys.revoked, name)) === 1;
  }

  async revoked(): Promise<Set<string>> {
    return new Set(await this.cmd.smembers(this.keys.revoked));
  }

  async names(): Promise<string[]> {
    return this.cmd.hvals(this.keys.apiKeys);
  }
}

/** Fixed windows: one INCR per request, the counter expires with its window. */
export class RedisLimiter implements Limiter {
  constructor(
    private readonly cmd: Redis,
    private readonly keys: Keys,
  ) {}

  async hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }> {
    const now = Date.now();
    const window = Math.floor(now / windowMs);
    const k = this.keys.rateWindow(key, window);
    const res = await this.cmd
      .multi()
      .incr(k)
      .pexpire(k, windowMs * 2)
      .exec();
    const count = Number(res?.[0]?.[1] ?? 0);
    return { count, resetMs: (window + 1) * windowMs - now };
  }
}

/** A sorted set per generation: member = edge, score = when its mark lapses (epoch ms). */
export class RedisPresence implements Presence {
  constructor(
    private readonly cmd: Redis,
    private readonly keys: Keys,
  ) {}

  async mark(id: string, member: string, ttlMs: number): Promise<void> {
    const k = this.keys.viewers(id);
    await this.cmd
      .multi()
      .zadd(k, Date.now() + ttlMs, member)
      .pexpire(k, ttlMs * 2)
      .exec();
  }

  async unmark(id: string, member: string): Promise<void> {
    await this.cmd.zrem(this.keys.viewers(id), member);
  }

  async count(id: string): Promise<number> {
    return this.cmd.zcount(this.keys.viewers(id), Date.now(), '+inf');
  }
}
