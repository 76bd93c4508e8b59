import type { Redis } from 'ioredis';
import type { KeyStore, Limiter } from '../contracts.js';
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
    const res = await this.cmd.multi().incr(k).pexpire(k, windowMs * 2).exec();
    const count = Number(res?.[0]?.[1] ?? 0);
    return { count, resetMs: (window + 1) * windowMs - now };
  }
}
