import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Read tokens: a signed, expiring permission to watch ONE generation, so a link can be shared
 * with viewers without sharing an API key. Format: `rt1.<generation id>.<expiry unix s>.<sig>`,
 * sig = base64url(HMAC-SHA256(secret, "rt1.<id>.<exp>")). Every edge with the same
 * READ_TOKEN_SECRET accepts every other edge's tokens.
 */
export type TokenCheck = { ok: true; id: string } | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

const PREFIX = 'rt1';

export function isReadTokenShape(value: string): boolean {
  return value.startsWith(`${PREFIX}.`);
}

export class ReadTokens {
  constructor(
    private readonly secret: Buffer,
    /** Lifetime of issued tokens, seconds. */
    private readonly ttlSeconds: number,
  ) {}

  issue(id: string, now = Date.now()): string {
    // Rounded up: a token lives at least ttlSeconds (rounding down could issue one already expired).
    const exp = Math.ceil(now / 1000) + this.ttlSeconds;
    const body = `${PREFIX}.${id}.${exp}`;
    return `${body}.${this.sign(body)}`;
  }

  verify(token: string, now = Date.now()): TokenCheck {
    const parts = token.split('.');
    if (parts.length !== 4 || parts[0] !== PREFIX) return { ok: false, reason: 'malformed' };
    const [, id, expRaw, sig] = parts as [string, string, string, string];
    if (!/^\d{1,12}$/.test(expRaw)) return { ok: false, reason: 'malformed' };
    const expected = Buffer.from(this.sign(`${PREFIX}.${id}.${expRaw}`));
    const given = Buffer.from(sig);
    // Constant-time comparison: the signature must not leak byte by byte through timing.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad_signature' };
    if (Number(expRaw) * 1000 <= now) return { ok: false, reason: 'expired' };
    return { ok: true, id };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}
