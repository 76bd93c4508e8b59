import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { median, unknownId } from '../gateway/support.js';
import { type Proc, startEdge } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/**
 * PITFALLS "Guessable ids are an open door": ids carry ≥ 128 random bits and are checked against
 * a strict pattern before any Redis key is built from them, and a generation that exists but is
 * not yours cannot be told from one that does not exist, by its answer or by its timing.
 * (test/gateway/auth.test.ts already checks the bodies are the same; this adds timing, the id
 * space and what reaches Redis.)
 */
const alice = `sk-alice-${randomBytes(16).toString('hex')}`;
const bob = `sk-bob-${randomBytes(16).toString('hex')}`;
const ID_PATTERN = /^gen_[a-z2-7]{26}$/;
const SAMPLE = 600;
const TIMED = 300;

let redis: RedisServer;
let edge: Proc;
const ids: string[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  // No producer: the generations stay queued, which is all this needs.
  edge = await startEdge({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'access', API_KEYS: `alice:${alice},bob:${bob}`, LOG_LEVEL: 'warn' });
  for (let i = 0; i < SAMPLE; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, SAMPLE - i) }, async () => {
        const res = await fetch(`${edge.url}/v1/generations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` },
          body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'id sample' }] }),
        });
        expect(res.status).toBe(202);
        return ((await res.json()) as { id: string }).id;
      }),
    );
    ids.push(...batch);
  }
}, 60_000);

afterAll(async () => {
  await edge?.kill();
  await redis?.stop();
});

describe('generation ids', () => {
  it(`PITFALLS "Guessable ids are an open door": ids carry ≥ 128 random bits: ${SAMPLE} ids from the API match gen_ + 26 × [a-z2-7], are unique, and use every symbol at every position`, () => {
    for (const id of ids) expect(id).toMatch(ID_PATTERN);
    expect(26 * Math.log2(32)).toBeGreaterThanOrEqual(128);
    expect(new Set(ids).size).toBe(SAMPLE);
    // A counter, a clock or a fixed prefix would leave positions with few symbols.
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    const total = new Map<string, number>();
    for (let pos = 4; pos < 30; pos++) {
      const seen = new Set(ids.map((id) => id[pos]));
      expect(seen.size, `position ${pos - 4}`).toBeGreaterThanOrEqual(24);
    }
    for (const id of ids) for (const ch of id.slice(4)) total.set(ch, (total.get(ch) ?? 0) + 1);
    // 600 × 26 symbols, 487.5 expected each: far from uniform would show here.
    for (const ch of alphabet) expect(total.get(ch) ?? 0, ch).toBeGreaterThan(350);
    for (const ch of alphabet) expect(total.get(ch) ?? 0, ch).toBeLessThan(650);
  });

  it('PITFALLS "Guessable ids are an open door": a malformed id never reaches Redis, nothing is looked up for it', async () => {
    const monitor = await redis.client().monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ')));
    const hostile = ['gen_AAAAAAAAAAAAAAAAAAAAAAAAAA', 'gen_aaaa}:meta', 'gen_{x}aaaaaaaaaaaaaaaaaaaaaa', 'gen_*', `${ids[0]}:meta`, 'gen_1111111111111111111111111%0a'];
    for (const bad of hostile) {
      for (const tail of ['', '/events', '/cancel']) {
        const res = await fetch(`${edge.url}/v1/generations/${bad}${tail}`, { method: tail === '/cancel' ? 'POST' : 'GET', headers: { authorization: `Bearer ${bob}` } });
        expect(res.status).toBe(404);
      }
    }
    // The control: a well-formed id is looked up, so MONITOR does see the edge's commands.
    expect((await fetch(`${edge.url}/v1/generations/${ids[1]}`, { headers: { authorization: `Bearer ${bob}` } })).status).toBe(404);
    await new Promise((r) => setTimeout(r, 300));
    monitor.disconnect();
    expect(seen.some((cmd) => cmd.includes(ids[1] as string))).toBe(true);
    const leaked = seen.filter((cmd) =>
      hostile.some((bad) => cmd.includes(decodeURIComponent(bad)) || cmd.includes('gen_aaaa}') || cmd.includes('gen_{x}') || cmd.includes('gen_*')),
    );
    expect(leaked).toEqual([]);
  });
});

describe('an id that exists but is not yours', () => {
  it(`PITFALLS "Guessable ids are an open door": gets the unknown-id 404, same body, same headers, and no telling timing (medians of ${TIMED} requests each)`, async () => {
    const theirs = ids.slice(0, TIMED);
    const timings = { forbidden: [] as number[], unknown: [] as number[] };
    const bodies = new Set<string>();
    const types = new Set<string>();
    const ask = async (kind: 'forbidden' | 'unknown', id: string, tail: string) => {
      const t0 = performance.now();
      const res = await fetch(`${edge.url}/v1/generations/${id}${tail}`, { headers: { authorization: `Bearer ${bob}` } });
      const body = await res.text();
      timings[kind].push(performance.now() - t0);
      expect(res.status).toBe(404);
      bodies.add(body);
      types.add(`${res.headers.get('content-type')} ${res.headers.get('x-generation-id') === id ? 'echoes id' : 'no id'}`);
    };
    // Warm-up, then interleaved so that drift in machine load hits both alike.
    for (let i = 0; i < 30; i++) await ask(i % 2 ? 'forbidden' : 'unknown', i % 2 ? (theirs[i] as string) : unknownId(), '');
    timings.forbidden = [];
    timings.unknown = [];
    for (let i = 0; i < TIMED; i++) {
      const tail = i % 2 ? '/events' : '';
      await ask('forbidden', theirs[i] as string, tail);
      await ask('unknown', unknownId(), tail);
    }
    const f = median(timings.forbidden);
    const u = median(timings.unknown);
    console.log(`404 medians over ${TIMED} each: forbidden ${f.toFixed(3)} ms, unknown ${u.toFixed(3)} ms`);
    // One body for both kinds and both routes.
    expect(bodies.size).toBe(1);
    expect(types.size).toBe(1);
    // Generous: within a factor 2 (or 1 ms) of each other; a lookup that short-circuits on "not yours" after a
    // different amount of work would show as a steady gap over hundreds of requests.
    expect(Math.max(f, u) / Math.min(f, u) < 2 || Math.abs(f - u) < 1).toBe(true);
  });
});
