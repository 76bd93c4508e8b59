/**
 * Generation ids: `gen_` + 26 characters of Crockford-free lowercase base32 (130 random bits).
 * Long and random so they cannot be guessed; checked against ID_PATTERN before any key is built
 * from one, so no caller-supplied separator or hash-tag brace can ever reach Redis.
 */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_CHARS = 26;

export const ID_PATTERN = /^gen_[a-z2-7]{26}$/;

export function newGenerationId(): string {
  const bytes = new Uint8Array(ID_CHARS);
  globalThis.crypto.getRandomValues(bytes);
  let out = 'gen_';
  // 5 bits from each byte: 26 × 5 = 130 bits of randomness, no modulo bias (32 divides 256).
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

export function isGenerationId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}
