import { setTimeout as sleep } from 'node:timers/promises';
import { summarizeTokenTimes } from '@tokencast/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InProcess, startInProcess } from '../support/in-process.js';

/**
 * Issue #14, item 7: GET /v1/generations/:id is no amplifier. An edge and a producer in this
 * process (memory engine), so the test can count the events each request makes the edge read.
 */
const RPM = 30;
let ip: InProcess;
let eventsRead = 0;

beforeAll(async () => {
  ip = await startInProcess({ LOG_LEVEL: 'silent', MOCK_TTFT_MS: '5', MOCK_TOKENS_PER_SECOND: '20000', RATE_LIMIT_RPM: String(RPM) });
  const store = ip.engine.store;
  const read = store.readEvents.bind(store);
  store.readEvents = async (...args: Parameters<typeof read>) => {
    const evs = await read(...args);
    eventsRead += evs.length;
    return evs;
  };
});

afterAll(async () => {
  await ip?.stop();
});

describe('#14.7 GET /v1/generations/:id', () => {
  it('#14.7 GET /v1/generations/:id is not an amplifier: one event read for an ended generation, bounded for a running one, and counted toward RATE_LIMIT_RPM', async () => {
    // RATE_LIMIT_RPM counts in fixed one-minute windows (epoch-aligned): start early in one, so
    // the POST, the GETs and the burst below fall in the same window (a crossing reset the count
    // once in CI and let one more GET through).
    const into = Date.now() % 60_000;
    if (into > 30_000) await sleep(60_000 - into + 50);
    const res = await fetch(`${ip.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', max_tokens: 20_000, messages: [{ role: 'user', content: `long ${Math.random()} [mock:len=20000]` }] }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    for (;;) {
      const m = await ip.engine.store.getMeta(id);
      if (m?.status === 'completed') break;
      await sleep(50);
    }
    const meta = await ip.engine.store.getMeta(id);
    expect(meta?.lastOffset).toBeGreaterThan(2_000);
    // What the timings must be: the summary of every token's time.
    const all = await ip.engine.store.readEvents(id, 0, 1_000_000);
    const expected = summarizeTokenTimes(all.flatMap((e) => (e.kind === 'end' || e.kind === 'tool_call' ? [] : e.ms)));

    eventsRead = 0;
    const g = await fetch(`${ip.url}/v1/generations/${id}`);
    expect(g.status).toBe(200);
    const body = (await g.json()) as { timings: Record<string, unknown> };
    expect(eventsRead, 'events the edge read for one GET of an ended generation').toBeLessThanOrEqual(1);
    expect(body.timings).toMatchObject(expected);

    // Reads count toward the rate: a burst of GETs meets the limit (1 POST + 1 GET so far).
    const statuses: number[] = [];
    for (let i = 0; i < RPM; i++) {
      const r = await fetch(`${ip.url}/v1/generations/${id}`);
      statuses.push(r.status);
      if (r.status === 429) expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      await r.body?.cancel();
    }
    expect(statuses.filter((s) => s === 200).length).toBe(RPM - 2);
    expect(statuses.filter((s) => s === 429).length).toBe(2);
  }, 120_000);

  it('#14.7 a running generation’s timings read a bounded number of events per request', async () => {
    // Slow enough to still be running while it is asked about.
    const slow = await startInProcess({ LOG_LEVEL: 'silent', MOCK_TTFT_MS: '5', MOCK_TOKENS_PER_SECOND: '2000' });
    try {
      const store = slow.engine.store;
      const read = store.readEvents.bind(store);
      let n = 0;
      store.readEvents = async (...args: Parameters<typeof read>) => {
        const evs = await read(...args);
        n += evs.length;
        return evs;
      };
      const res = await fetch(`${slow.url}/v1/generations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock', max_tokens: 30_000, messages: [{ role: 'user', content: `long ${Math.random()} [mock:len=30000]` }] }),
      });
      const { id } = (await res.json()) as { id: string };
      for (;;) {
        const m = await store.getMeta(id);
        if ((m?.lastOffset ?? 0) > 3_000) break;
        await sleep(50);
      }
      n = 0;
      const g = await fetch(`${slow.url}/v1/generations/${id}`);
      expect(g.status).toBe(200);
      expect(((await g.json()) as { status: string }).status).toBe('running');
      expect(n).toBeLessThanOrEqual(1_024);
    } finally {
      await slow.stop();
    }
  }, 60_000);
});
