import type { GenerationMeta } from '@tokencast/protocol';
import { AuthenticationError } from '@tokencast/protocol';
import type { FastifyRequest } from 'fastify';
import type { ApiKeys } from './api-keys.js';
import { isReadTokenShape, type ReadTokens } from './read-token.js';

/** Who is asking: the name of a valid API key, a read token for one generation, or nobody. */
export type Principal = { kind: 'key'; name: string } | { kind: 'read'; generation: string } | { kind: 'anonymous' };

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
  constructor(
    private readonly keys: ApiKeys,
    readonly tokens: ReadTokens,
    private readonly opts: AccessOptions,
  ) {}

  get enabled(): boolean {
    return this.opts.enabled;
  }

  /** Credentials from `Authorization: Bearer …`, or from `?token=` (EventSource cannot set headers). */
  async identify(req: FastifyRequest, extraToken?: string): Promise<Principal> {
    if (!this.opts.enabled) return { kind: 'anonymous' };
    const header = req.headers.authorization;
    let credential: string | undefined;
    if (typeof header === 'string' && header.length > 0) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw new AuthenticationError('the Authorization header must be "Bearer <key>"', 'invalid_authorization');
      credential = m[1];
    } else {
      const q = (req.query as Record<string, unknown> | undefined)?.token;
      credential = typeof q === 'string' && q.length > 0 ? q : extraToken;
    }
    if (credential === undefined) return { kind: 'anonymous' };
    if (credential.length > 512) throw new AuthenticationError('invalid credentials', 'invalid_api_key');
    if (isReadTokenShape(credential)) {
      const check = this.tokens.verify(credential);
      if (check.ok) return { kind: 'read', generation: check.id };
      if (check.reason === 'expired') throw new AuthenticationError('the read token has expired', 'token_expired');
      throw new AuthenticationError('the read token is not valid', 'invalid_token');
    }
    const name = await this.keys.resolve(credential);
    if (!name) throw new AuthenticationError('Incorrect API key provided', 'invalid_api_key');
    return { kind: 'key', name };
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
    if (p.kind === 'read') return p.generation === meta.id;
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
