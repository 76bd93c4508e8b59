import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, type KeyStore } from '@tokencast/engine';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * Keys from the configuration: API_KEYS="name:key,name2:key2" and/or API_KEYS_FILE (JSON object
 * {"name": "key"} or lines "name key"). Kept as sha256 hash → name; the keys themselves are
 * not retained. null: not set.
 */
export function keysFromConfig(apiKeys: string | null, apiKeysFile: string | null): Map<string, string> {
  const out = new Map<string, string>();
  const add = (name: string, key: string, where: string) => {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new ConfigError(`${where}: key name ${JSON.stringify(name)} must be 1-64 of [A-Za-z0-9_.-]`);
    if (key.length < 16) throw new ConfigError(`${where}: the key named ${name} is shorter than 16 characters`);
    out.set(hashKey(key), name);
  };
  for (const pair of (apiKeys ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = pair.indexOf(':');
    if (i <= 0) throw new ConfigError('API_KEYS must be a comma-separated list of name:key');
    add(pair.slice(0, i), pair.slice(i + 1), 'API_KEYS');
  }
  if (apiKeysFile) {
    let text: string;
    try {
      text = readFileSync(apiKeysFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`API_KEYS_FILE ${apiKeysFile}: ${(err as Error).message}`);
    }
    if (text.trim().startsWith('{')) {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new ConfigError(`API_KEYS_FILE ${apiKeysFile}: ${(err as Error).message}`);
      }
      for (const [name, key] of Object.entries(parsed)) add(name, String(key), 'API_KEYS_FILE');
    } else {
      for (const line of text.split('\n').map((l) => l.trim())) {
        if (!line || line.startsWith('#')) continue;
        const [name, key] = line.split(/\s+/);
        if (!name || !key) throw new ConfigError('API_KEYS_FILE lines must be "name key"');
        add(name, key, 'API_KEYS_FILE');
      }
    }
  }
  return out;
}

/**
 * Resolves a bearer key to its name: keys from the environment first, then keys stored in the
 * engine (shared by every edge). Revocations are read from the engine and cached for cacheMs,
 * which bounds how long a revoked key keeps working.
 */
export class ApiKeys {
  private revoked = new Set<string>();
  private revokedAt = 0;
  private readonly stored = new Map<string, { name: string | null; at: number }>();

  constructor(
    private readonly envKeys: Map<string, string>,
    private readonly store: KeyStore,
    private readonly cacheMs: number,
  ) {}

  /** Name of the key, or null when it is unknown or revoked. */
  async resolve(key: string): Promise<string | null> {
    const hash = hashKey(key);
    const now = Date.now();
    let name = this.envKeys.get(hash) ?? null;
    if (!name) {
      const cached = this.stored.get(hash);
      if (cached && now - cached.at < this.cacheMs) name = cached.name;
      else {
        name = await this.store.findByHash(hash);
        if (this.stored.size > 10_000) this.stored.clear(); // bound the cache against key spraying
        this.stored.set(hash, { name, at: now });
      }
    }
    if (!name) return null;
    await this.refreshRevoked(now);
    return this.revoked.has(name) ? null : name;
  }

  /** Re-reads the revoked names when the cached list is older than cacheMs. */
  async refreshRevoked(now = Date.now(), force = false): Promise<void> {
    if (!force && now - this.revokedAt < this.cacheMs) return;
    this.revoked = await this.store.revoked();
    this.revokedAt = now;
  }

  /** The revoked names as last read (refreshRevoked keeps them at most cacheMs old). */
  revokedNow(): ReadonlySet<string> {
    return this.revoked;
  }
}
