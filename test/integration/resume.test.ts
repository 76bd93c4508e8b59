import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { chatBody, contiguous, type Ev, finishes, meta, offsets, read, reference, submit, textOf } from './helpers.js';

/**
 * Resume across processes: two edges and a producer sharing one redis-server. A client reads k
 * events, drops, and comes back with Last-Event-ID (or ?from) to the same edge or the other one:
 * it must get exactly the events after k, and the joined text must be the uninterrupted one.
 */
let redis: RedisServer;
let edgeA: Proc;
let edgeB: Proc;
let producer: Proc;

beforeAll(async () => {
  redis = await startRedisServer();
  const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'resume' };
  [edgeA, edgeB, producer] = await Promise.all([startEdge(env), startEdge(env), startProducer({ ...env, MOCK_TOKENS_PER_SECOND: '100' })]);
});

afterAll(async () => {
  await Promise.all([edgeA?.kill('SIGTERM'), edgeB?.kill('SIGTERM'), producer?.kill('SIGTERM')]);
  await redis?.stop();
});

/** The events after offset k in an uninterrupted read. */
function eventsAfter(events: readonly Ev[], k: number): Ev[] {
  const i = events.findIndex((e) => e.id === k + 1);
  return i === -1 ? [] : events.slice(i);
}

describe('resume with Last-Event-ID and ?from', () => {
  it('a dropped client resumes live on the same edge and on another one: no gap, no duplicate', async () => {
    const body = chatBody('[mock:len=120] a story about resuming');
    const ref = reference(body);
    const id = await submit(edgeA.url, body);
    const events = (base: string) => `${base}/v1/generations/${id}/events`;

    // The uninterrupted reader, for comparison.
    const fullRead = read(events(edgeA.url));
    const k = 10;
    const first = await read(events(edgeA.url), { stopAfter: k });
    expect(first.how).toBe('aborted');
    const got = offsets(first.events).slice(0, k);
    expect(got).toEqual(Array.from({ length: k }, (_, i) => i + 1));
    const head = first.events.filter((e) => e.id !== null && e.id <= k);

    // Still live: the producer is mid-generation.
    expect((await meta(edgeA.url, id)).status).toBe('running');
    const [sameEdge, otherEdge, viaQuery] = await Promise.all([
      read(events(edgeA.url), { headers: { 'last-event-id': String(k) } }),
      read(events(edgeB.url), { headers: { 'last-event-id': String(k) } }),
      read(`${events(edgeB.url)}?from=${k}`),
    ]);
    const full = await fullRead;
    expect(full.done).toBe(true);
    expect(textOf(full.events)).toBe(ref.text);
    const total = offsets(full.events).length;
    expect(total).toBeGreaterThan(k + 5);

    for (const r of [sameEdge, otherEdge, viaQuery]) {
      expect(r.status).toBe(200);
      expect(r.done).toBe(true);
      expect(contiguous(offsets(r.events), k)).toBe(true);
      expect(offsets(r.events).length).toBe(total - k);
      // Byte-for-byte the same events as the uninterrupted reader got after k.
      expect(r.events).toEqual(eventsAfter(full.events, k));
      expect(textOf([...head, ...r.events])).toBe(ref.text);
      expect(finishes(r.events)).toEqual(['stop']);
    }
  });

  it('a streaming chat completion dropped on one edge resumes on the other', async () => {
    const body = chatBody('[mock:len=100] drop me', { stream: true });
    const ref = reference(body);
    const k = 7;
    const first = await read(`${edgeA.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), stopAfter: k });
    expect(first.status).toBe(200);
    const head = first.events.filter((e) => e.id !== null && e.id <= k);
    expect(offsets(head)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // The generation id travels in the chunk ids (and the X-Generation-Id header).
    const id = (JSON.parse(head[0]?.data as string) as { id: string }).id.replace('chatcmpl-', '');
    const rest = await read(`${edgeB.url}/v1/generations/${id}/events`, { headers: { 'last-event-id': String(k) } });
    expect(contiguous(offsets(rest.events), k)).toBe(true);
    expect(textOf([...head, ...rest.events])).toBe(ref.text);
    expect(rest.done).toBe(true);
  });

  it('after completion, every offset resumes exactly after itself on either edge', async () => {
    const body = chatBody('[mock:len=40] replay all');
    const ref = reference(body);
    const id = await submit(edgeB.url, body);
    const full = await read(`${edgeB.url}/v1/generations/${id}/events`);
    await waitFor('completion', async () => (await meta(edgeA.url, id)).status === 'completed', 10_000);
    const last = offsets(full.events).at(-1) as number;
    expect(textOf(full.events)).toBe(ref.text);
    const ks = [0, 1, 2, Math.floor(last / 2), last - 2, last - 1];
    const reads = await Promise.all(ks.flatMap((k) => [edgeA, edgeB].map((e) => read(`${e.url}/v1/generations/${id}/events`, { headers: { 'last-event-id': String(k) } }))));
    reads.forEach((r, i) => {
      const k = ks[Math.floor(i / 2)] as number;
      expect(r.events, `k=${k}`).toEqual(eventsAfter(full.events, k));
    });
    // At the end event: just [DONE]. Beyond it: a 400.
    const atEnd = await read(`${edgeA.url}/v1/generations/${id}/events?from=${last}`);
    expect(atEnd.events).toEqual([{ id: null, data: '[DONE]' }]);
    const beyond = await read(`${edgeB.url}/v1/generations/${id}/events?from=${last + 1}`);
    expect(beyond.status).toBe(400);
    expect(JSON.parse(beyond.body)).toMatchObject({ error: { code: 'offset_out_of_range' } });
  });
});
