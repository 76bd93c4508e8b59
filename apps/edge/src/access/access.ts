import type { GenerationMeta } from '@tokencast/protocol';
import { AuthenticationError } from '@tokencast/protocol';
import type { FastifyRequest } from 'fastify';
import type { ApiKeys } from './api-keys.js';
import { isReadTokenShape, type ReadTokens } from './read-token.js';

/** Who is asking: the name of a valid API key, a read token for one generation, or nobody. */
export type Principal = { kind: 'key'; name: string } | { kind: 'read'; generation: string } | { kind: 'anonymous' };

/** The subject a stream is counted against per key; null for read-token and anonymous viewers. */
export function keySubject(p: Principal): string | null {
  return p.kind === 'key' ? p.name : null;
}

export interface AccessOptions {
  /** False: no keys configured, everything is open (the embedded default). */
  enabled: boolean;
}

/**
 * The edge's access rules in one place. With keys enabled: creating or cancelling needs a key;
 * watching needs the key that created the generation or a read token for it. A generation the
 * caller may not see answers exactly like an unknown one (the routes turn `false` into 404).
 */
export class Access {
  private readonly revocationListeners = new Set<(revoked: ReadonlySet<string>) => void>();

  constructor(
    private readonly keys: ApiKeys,
    readonly tokens: ReadTokens,
    private readonly opts: AccessOptions,
  ) {}

  get enabled(): boolean {
    return this.opts.enabled;
  }

  /**
   * Credentials from `Authorization: Bearer …` or `x-api-key` (the Anthropic SDKs' header), or a
   * read token in `?token=` on a read (GET/HEAD: EventSource cannot set headers). API keys are
   * never taken from a URL: URLs end up in histories, logs and Referer headers.
   * `extraToken`: a read token that came in a message body (a WebSocket subscribe).
   */
  async identify(req: FastifyRequest, extraToken?: string): Promise<Principal> {
    if (!this.opts.enabled) return { kind: 'anonymous' };
    const header = req.headers.authorization;
    const apiKeyHeader = req.headers['x-api-key'];
    let credential: string | undefined;
    if (typeof header === 'string' && header.length > 0) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw new AuthenticationError('the Authorization header must be "Bearer <key>"', 'invalid_authorization');
      credential = m[1];
    } else if (typeof apiKeyHeader === 'string' && apiKeyHeader.length > 0) {
      credential = apiKeyHeader.trim();
    } else {
      // Any route's query (routes declare `token` in their schema: plugins/schemas.ts tokenQueryParam).
      const query: unknown = req.query;
      const q = typeof query === 'object' && query !== null && 'token' in query ? query.token : undefined;
      if (typeof q === 'string' && q.length > 0) {
        if (!isReadTokenShape(q)) throw new AuthenticationError('?token= takes read tokens only: send API keys in the Authorization (or x-api-key) header', 'api_key_in_url');
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new AuthenticationError('?token= is accepted on reads only', 'invalid_token');
        credential = q;
      } else credential = extraToken;
    }
    if (credential === undefined) return { kind: 'anonymous' };
    if (credential.length > 512) throw new AuthenticationError('invalid credentials', 'invalid_api_key');
    if (isReadTokenShape(credential)) {
      const check = this.tokens.verify(credential);
      if (check.ok) {
        // Tokens die with the key that issued them: keep the revocation list fresh (AUTH_CACHE_MS).
        await this.keys.refreshRevoked();
        return { kind: 'read', generation: check.id };
      }
      if (check.reason === 'expired') throw new AuthenticationError('the read token has expired', 'token_expired');
      throw new AuthenticationError('the read token is not valid', 'invalid_token');
    }
    const name = await this.keys.resolve(credential);
    if (!name) throw new AuthenticationError('Incorrect API key provided', 'invalid_api_key');
    return { kind: 'key', name };
  }

  /**
   * Reads the revoked key names from the store now and tells every listener (onRevoked), which
   * ends the streams those keys (and the read tokens they issued) hold open. The edge calls it
   * on a timer well inside AUTH_CACHE_MS (app.ts).
   */
  async checkRevocations(): Promise<void> {
    if (!this.opts.enabled) return;
    await this.keys.refreshRevoked(Date.now(), true);
    const revoked = this.keys.revokedNow();
    if (revoked.size === 0) return;
    for (const listener of this.revocationListeners) listener(revoked);
  }

  /** Called with every revoked key name after each check; returns the unsubscribe function. */
  onRevoked(listener: (revoked: ReadonlySet<string>) => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  /** For creating generations: a key, or nothing when keys are off. Returns the owner name. */
  requireCreator(p: Principal): string {
    if (!this.opts.enabled) return '';
    if (p.kind === 'key') return p.name;
    if (p.kind === 'read') throw new AuthenticationError('a read token can only watch a generation', 'invalid_api_key');
    throw new AuthenticationError('You did not provide an API key: send "Authorization: Bearer <key>"', 'missing_api_key');
  }

  /** Watching: false means "answer as if it did not exist". */
  canWatch(p: Principal, meta: Pick<GenerationMeta, 'id' | 'owner'>): boolean {
    if (!this.opts.enabled) return true;
    if (p.kind === 'key') return p.name === meta.owner;
    // A read token lives only as long as the key that issued it (the generation's owner).
    if (p.kind === 'read') return p.generation === meta.id && !this.keys.revokedNow().has(meta.owner);
    return false;
  }

  /** Watching needs some credential at all; without any, the answer is 401, not 404. */
  requireAny(p: Principal): void {
    if (this.opts.enabled && p.kind === 'anonymous') throw new AuthenticationError('You did not provide an API key or read token', 'missing_api_key');
  }

  canCancel(p: Principal, meta: Pick<GenerationMeta, 'owner'>): boolean {
    if (!this.opts.enabled) return true;
    return p.kind === 'key' && p.name === meta.owner;
  }
}
