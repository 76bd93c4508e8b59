import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { readSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';

/**
 * PITFALLS "A trimmed or expired stream is not an empty one": a client asking for events the
 * stream no longer holds gets an explicit error, never a silent jump to the newest ones.
 */
describe('a trimmed stream', () => {
  let redis: RedisServer;
  let edge: Proc;

  beforeAll(async () => {
    redis = await startRedisServer();
    edge = await startEmbedded({ REDIS_URL: redis.url, MOCK_TOKENS_PER_SECOND: '1000', LOG_LEVEL: 'warn', EDGE_CHANNEL_LINGER_MS: '0', EDGE_DEBUG_STATS: '1' });
  });

  afterAll(async () => {
    await edge?.kill();
    await redis?.stop();
  });

  it('answers offset_gone for a cursor older than what the stream still holds', async () => {
    const res = await fetch(`${edge.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', max_tokens: 100, messages: [{ role: 'user', content: '[mock:len=100] trim me' }] }),
    });
    const { id } = (await res.json()) as { id: string };
    const whole = await readSse(`${edge.url}/v1/generations/${id}/events`);
    expect(whole.done).toBe(true);
    const last = whole.ids[whole.ids.length - 1] as number;
    // The producer coalesces tokens when writes lag (a loaded machine), so the event count varies:
    // keep half of whatever was written, and make sure something was trimmed.
    expect(last).toBeGreaterThanOrEqual(4);
    const keep = Math.floor(last / 2);
    // An operator (or a MAXLEN) trims the oldest events.
    const c = new Redis(redis.url);
    expect(await c.xtrim(`tc:{${id}}:events`, 'MAXLEN', keep)).toBe(last - keep);
    c.disconnect();
    // The channel of the first read lingers 0 ms; wait until it is gone, so the next read asks the
    // store (a fixed sleep lost that race on a loaded machine).
    await waitFor("the first read's channel to be dropped", async () => {
      const stats = (await (await fetch(`${edge.url}/debug/stats`)).json()) as { channels: number };
      return stats.channels === 0 ? true : null;
    });
    const fromStart = await readSse(`${edge.url}/v1/generations/${id}/events`);
    expect(fromStart.ids).toEqual([]);
    expect(fromStart.events.some((e) => e.data.includes('offset_gone'))).toBe(true);
    expect(fromStart.text).toBe('');
    // What is still held can be read exactly.
    const held = await readSse(`${edge.url}/v1/generations/${id}/events`, { headers: { 'last-event-id': String(last - keep) } });
    expect(held.ids).toEqual(Array.from({ length: keep }, (_, i) => last - keep + 1 + i));
    expect(held.done).toBe(true);
  });
});
