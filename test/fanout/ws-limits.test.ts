import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type InProcess, startInProcess } from '../support/in-process.js';

/**
 * Issue #14, item 8: the WebSocket subscription cap holds against a burst, and a subscription at
 * or past the end of a finished generation ends like SSE does instead of hanging. An edge and a
 * producer in this process (memory engine) so the test can count the sinks the edge holds.
 */
let ip: InProcess;
/** A generation that finished before the tests start, and its last offset. */
let finished: { gen: string; last: number };

beforeAll(async () => {
  ip = await startInProcess({ LOG_LEVEL: 'silent', MOCK_TTFT_MS: '5', MOCK_TOKENS_PER_SECOND: '20', WS_MAX_SUBSCRIPTIONS: '5', WS_MAX_MESSAGES_PER_SECOND: '1000' });
  const gen = await submit(3);
  for (;;) {
    const m = await ip.engine.store.getMeta(gen);
    if (m?.status === 'completed') {
      finished = { gen, last: m.lastOffset };
      break;
    }
    await sleep(20);
  }
});

afterAll(async () => {
  await ip?.stop();
});

async function submit(len: number): Promise<string> {
  const res = await fetch(`${ip.url}/v1/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: `ws ${Math.random()} [mock:len=${len}]` }] }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

function open(): Promise<{ ws: WebSocket; messages: Array<Record<string, unknown>> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${ip.url.replace('http', 'ws')}/v1/ws`);
    const messages: Array<Record<string, unknown>> = [];
    ws.on('message', (raw) => messages.push(JSON.parse(raw.toString()) as Record<string, unknown>));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('error', reject);
  });
}

async function until<T>(what: string, fn: () => T | undefined, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('#14.8 WebSocket subscriptions', () => {
  it('#14.8 the subscription cap is not beaten by a burst: 40 subscribes at once, WS_MAX_SUBSCRIPTIONS=5 accepted', async () => {
    const ids = await Promise.all(Array.from({ length: 40 }, () => submit(400)));
    const { ws, messages } = await open();
    // One write: every frame reaches the edge in the same read, before any subscribe's await.
    const frames = ids.map((gen) => JSON.stringify({ type: 'subscribe', gen, from: 0 }));
    for (const f of frames) ws.send(f);
    await until('35 refusals', () => (messages.filter((m) => m.code === 'too_many_subscriptions').length >= 35 ? true : undefined)).catch(() => {});
    await sleep(500);
    const refused = messages.filter((m) => m.code === 'too_many_subscriptions').length;
    const serving = new Set(messages.filter((m) => m.type === 'event').map((m) => m.gen));
    expect(refused).toBe(35);
    expect(serving.size).toBeLessThanOrEqual(5);
    expect(ip.edge.hub.sinkCount).toBe(5);
    // A slot given back (unsubscribe) can be taken again, and only one.
    const first = [...serving][0] as string;
    ws.send(JSON.stringify({ type: 'unsubscribe', gen: first }));
    await until('the slot back', () => (ip.edge.hub.sinkCount === 4 ? true : undefined));
    const before = messages.length;
    for (const gen of ids.slice(20, 24)) ws.send(JSON.stringify({ type: 'subscribe', gen, from: 0 }));
    await sleep(500);
    expect(messages.slice(before).filter((m) => m.code === 'too_many_subscriptions').length).toBe(3);
    expect(ip.edge.hub.sinkCount).toBe(5);
    ws.close();
    await until('every sink released', () => (ip.edge.hub.sinkCount === 0 ? true : undefined));
  }, 30_000);

  it('#14.8 a subscribe at or past a finished generation’s end ends at once (end, or offset_out_of_range) and holds nothing', async () => {
    const { gen, last } = finished;
    const { ws, messages } = await open();
    ws.send(JSON.stringify({ type: 'subscribe', gen, from: last }));
    const end = await until('the end message', () => messages.find((m) => m.gen === gen), 3_000);
    expect(end).toMatchObject({ type: 'event', gen, offset: last, end: true });
    ws.send(JSON.stringify({ type: 'subscribe', gen, from: last + 5 }));
    const err = await until('the out-of-range error', () => messages.find((m) => m.type === 'error' && m.gen === gen), 3_000);
    expect(err).toMatchObject({ code: 'offset_out_of_range', retryable: false });
    // Nothing held: no sink, and the slot is free again (a third subscribe is accepted too).
    expect(ip.edge.hub.sinkCount).toBe(0);
    ws.send(JSON.stringify({ type: 'subscribe', gen, from: last }));
    await until('a second end', () => (messages.filter((m) => m.type === 'event' && m.gen === gen).length === 2 ? true : undefined), 3_000);
    ws.close();
  }, 30_000);
});
