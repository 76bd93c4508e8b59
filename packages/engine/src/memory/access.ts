import type { KeyStore, Limiter, Presence } from '../contracts.js';

/** API keys in one process (redis/access.ts's RedisKeyStore). */
export class MemoryKeyStore implements KeyStore {
  /** sha256 hash → key name. */
  private readonly byHash = new Map<string, string>();
  private readonly revokedNames = new Set<string>();

  async findByHash(hash: string): Promise<string | null> {
    return this.byHash.get(hash) ?? null;
  }

  async add(name: string, hash: string): Promise<void> {
    this.byHash.set(hash, name);
    this.revokedNames.delete(name);
  }

  async revoke(name: string): Promise<boolean> {
    if (this.revokedNames.has(name)) return false;
    this.revokedNames.add(name);
    return true;
  }

  async revoked(): Promise<Set<string>> {
    return new Set(this.revokedNames);
  }

  async names(): Promise<string[]> {
    return [...this.byHash.values()];
  }
}

/** Fixed windows, as RedisLimiter: one counter per key and window. */
export class MemoryLimiter implements Limiter {
  /** `<key>:<windowMs>:<window number>` → hits. */
  private readonly windows = new Map<string, number>();

  async hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }> {
    const now = Date.now();
    const window = Math.floor(now / windowMs);
    const k = `${key}:${windowMs}:${window}`;
    const count = (this.windows.get(k) ?? 0) + 1;
    this.windows.set(k, count);
    // Old windows are dropped as new ones start, so the map holds about one entry per key.
    if (count === 1) this.windows.delete(`${key}:${windowMs}:${window - 1}`);
    return { count, resetMs: (window + 1) * windowMs - now };
  }
}

/** Marks with an expiry per generation, as RedisPresence's sorted sets. */
export class MemoryPresence implements Presence {
  /** Generation id → member → epoch ms at which its mark lapses. */
  private readonly marks = new Map<string, Map<string, number>>();

  async mark(id: string, member: string, ttlMs: number): Promise<void> {
    const m = this.marks.get(id) ?? new Map<string, number>();
    m.set(member, Date.now() + ttlMs);
    this.marks.set(id, m);
  }

  async unmark(id: string, member: string): Promise<void> {
    const m = this.marks.get(id);
    m?.delete(member);
    if (m && m.size === 0) this.marks.delete(id);
  }

  async count(id: string): Promise<number> {
    const now = Date.now();
    let n = 0;
    for (const until of this.marks.get(id)?.values() ?? []) if (until > now) n++;
    return n;
  }
}
