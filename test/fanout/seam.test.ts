import { mockText } from '@tokencast/producer';
import { parseChatRequest } from '@tokencast/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { readSse } from '../support/sse.js';

/**
 * Late joiners of a live generation catch up from Redis, then join the live path: the seam
 * between the two must have no gap and no duplicate, even while tokens are written fast and the
 * edge's recent window (tiny here) keeps moving under them.
 */
describe('the catch-up / live seam under load', () => {
  let redis: RedisServer;
  let edge: Proc;

  beforeAll(async () => {
    redis = await startRedisServer();
    edge = await startEmbedded({ REDIS_URL: redis.url, MOCK_TOKENS_PER_SECOND: '2000', MOCK_TTFT_MS: '5', EDGE_WINDOW_EVENTS: '16', EDGE_READ_BATCH: '7', LOG_LEVEL: 'warn' });
  });

  afterAll(async () => {
    await edge?.kill();
    await redis?.stop();
  });

  it('100 joiners arriving at random offsets while the model writes each get exactly the rest', async () => {
    const body = { model: 'mock', max_tokens: 3000, messages: [{ role: 'user', content: 'seam [mock:len=3000]' }] };
    const reference = mockText(parseChatRequest(body, { maxTokensCap: 1e6, maxPromptChars: 1e6 })).text;
    const res = await fetch(`${edge.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const { id } = (await res.json()) as { id: string };
    // The full stream, read once from the start, is the reference for every offset's text.
    const full = readSse(`${edge.url}/v1/generations/${id}/events`);
    const joiners: Promise<{ from: number; read: Awaited<ReturnType<typeof readSse>> }>[] = [];
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const meta = (await (await fetch(`${edge.url}/v1/generations/${id}`)).json()) as { last_offset: number };
      // Anywhere from far behind (store catch-up) to right at the head (window, then live).
      const from = Math.floor(rand() * (meta.last_offset + 1));
      joiners.push(readSse(`${edge.url}/v1/generations/${id}/events`, { headers: { 'last-event-id': String(from) } }).then((read) => ({ from, read })));
    }
    const whole = await full;
    expect(whole.text).toBe(reference);
    const textAfter = new Map<number, string>();
    let acc = '';
    const perEvent = whole.events.filter((e) => e.id);
    // text of events with offset > k, for every k
    const suffix: string[] = new Array(perEvent.length + 1).fill('');
    for (let k = perEvent.length - 1; k >= 0; k--) {
      const ev = perEvent[k];
      acc = (ev?.data && ev.data !== '[DONE]' ? chunk(ev.data) : '') + acc;
      suffix[k] = acc;
    }
    for (let k = 0; k <= perEvent.length; k++) textAfter.set(k, suffix[k] ?? '');
    for (const { from, read } of await Promise.all(joiners)) {
      expect(read.ids).toEqual(Array.from({ length: read.ids.length }, (_, i) => from + i + 1));
      expect(read.done).toBe(true);
      expect(read.text).toBe(textAfter.get(from));
    }
  }, 60_000);
});

function chunk(data: string): string {
  const j = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
  return j.choices?.[0]?.delta?.content ?? '';
}
