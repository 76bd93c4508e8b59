import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { type Cluster, call, chat, expectError, type JsonResponse, startCluster } from './support.js';

/**
 * Every limit against real edge processes on one Redis:
 *   ea, eb: RATE_LIMIT_RPM shared between them
 *   ec:     stream limits per key and per address, body, prompt and max_tokens limits
 *   ed:     MAX_QUEUE_DEPTH on a key prefix no producer serves (the queue only fills)
 */
const alice = `sk-alice-${randomBytes(16).toString('hex')}`;
const bob = `sk-bob-${randomBytes(16).toString('hex')}`;
const KEYS = { API_KEYS: `alice:${alice},bob:${bob}` };
const RPM = 5;

let cluster: Cluster;
let ea: Proc;
let eb: Proc;
let ec: Proc;
let ed: Proc;

beforeAll(async () => {
  cluster = await startCluster();
  [ea, eb, ec, ed] = await Promise.all([
    cluster.edge({ ...KEYS, RATE_LIMIT_RPM: String(RPM) }),
    cluster.edge({ ...KEYS, RATE_LIMIT_RPM: String(RPM) }),
    cluster.edge({ ...KEYS, MAX_STREAMS_PER_KEY: '2', MAX_STREAMS_PER_IP: '3', BODY_LIMIT_BYTES: '4096', MAX_PROMPT_CHARS: '500', MAX_TOKENS_CAP: '100' }),
    cluster.edge({ TOKENCAST_KEY_PREFIX: `${cluster.prefix}q`, MAX_QUEUE_DEPTH: '3' }),
    cluster.producer(),
  ]);
});

afterAll(async () => {
  await cluster?.stop();
});

function expectRetryAfter(res: JsonResponse, max: number): void {
  const ra = res.headers.get('retry-after');
  expect(ra, 'Retry-After header').toMatch(/^\d+$/);
  expect(Number(ra)).toBeGreaterThanOrEqual(1);
  expect(Number(ra)).toBeLessThanOrEqual(max);
}

describe('RATE_LIMIT_RPM', () => {
  it('is shared across edges: request N+1 over both gets 429 with Retry-After', async () => {
    // The limiter counts in fixed minutes; a run that straddles one would start over.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 5_000) await sleep(left + 100);
    const statuses: number[] = [];
    for (let i = 0; i < RPM; i++) {
      const edge = i % 2 === 0 ? ea : eb;
      const path = i === 1 ? '/v1/chat/completions' : '/v1/generations'; // every creating route counts
      const res = await call(`${edge.url}${path}`, { json: chat(2), key: alice });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([202, 200, 202, 202, 202]);
    for (const edge of [ea, eb]) {
      const res = await call(`${edge.url}/v1/generations`, { json: chat(2), key: alice });
      expectError(res, 429, 'rate_limit_exceeded');
      expect(res.body.error.type).toBe('rate_limit_error');
      expectRetryAfter(res, 60);
    }
    // Per key: another key has its own budget.
    expect((await call(`${eb.url}/v1/generations`, { json: chat(2), key: bob })).status).toBe(202);
  });
});

/** An SSE response kept open until close(); a refused one carries its error. */
async function hold(url: string, key: string): Promise<{ res: JsonResponse | null; close: () => void }> {
  const ac = new AbortController();
  const r = await fetch(url, { headers: { authorization: `Bearer ${key}` }, signal: ac.signal });
  if (r.status === 200) {
    // Read the stream in the background so the server never sees backpressure.
    void (async () => {
      try {
        for await (const _ of r.body as unknown as AsyncIterable<Uint8Array>);
      } catch {}
    })();
    return { res: null, close: () => ac.abort() };
  }
  const text = await r.text();
  return { res: { status: r.status, headers: r.headers, body: JSON.parse(text), text }, close: () => {} };
}

describe('stream limits (MAX_STREAMS_PER_KEY=2, MAX_STREAMS_PER_IP=3)', () => {
  it('refuses the stream over each limit with 429 too_many_streams and gives the slot back on close', async () => {
    const created = await call(`${ec.url}/v1/generations`, { json: chat(100_000), key: alice });
    expect(created.status).toBe(202);
    const { id, read_token: token } = created.body as { id: string; read_token: string };
    const url = `${ec.url}/v1/generations/${id}/events`;
    const a1 = await hold(url, alice);
    const a2 = await hold(url, alice);
    expect([a1.res, a2.res]).toEqual([null, null]);

    const a3 = await hold(url, alice);
    expectError(a3.res as JsonResponse, 429, 'too_many_streams');
    expect(a3.res?.body.error.message).toMatch(/key/);
    expectRetryAfter(a3.res as JsonResponse, 60);
    // A streaming completion is a stream too.
    const recent = () => cluster.redis.client().zcard(`${cluster.prefix}:recent`);
    const before = await recent();
    const streamingPost = await call(`${ec.url}/v1/chat/completions`, { json: chat(5, { stream: true }), key: alice });
    expectError(streamingPost, 429, 'too_many_streams');
    // Refused before anything was queued: no model runs for a stream nobody can watch.
    expect(await recent()).toBe(before);

    // The third stream from this address (another key's, or a read token's) is the last one.
    const t1 = await fetch(`${url}?token=${encodeURIComponent(token)}`);
    expect(t1.status).toBe(200);
    const t2 = await call(`${url}?token=${encodeURIComponent(token)}`);
    expectError(t2, 429, 'too_many_streams');
    expect(t2.body.error.message).toMatch(/address/);
    const b1 = await hold(url, bob);
    expect(b1.res?.status).toBe(404); // bob may not see alice's generation at all
    await t1.body?.cancel();

    // A closed stream gives its slot back, per key...
    a1.close();
    const again = await waitFor('the key slot of the closed stream', async () => {
      const h = await hold(url, alice);
      return h.res === null ? h : null;
    });
    // ...and per address: a2 + again hold 2 of 3 only if the closed token stream gave its slot back.
    const tokenUrl = `${url}?token=${encodeURIComponent(token)}`;
    const t3 = await waitFor('the address slot of the closed token stream', async () => {
      const r = await fetch(tokenUrl);
      if (r.status === 200) return r;
      await r.body?.cancel();
      return null;
    });
    expectError(await call(tokenUrl), 429, 'too_many_streams');
    await t3.body?.cancel();
    again.close();
    a2.close();
    await call(`${ec.url}/v1/generations/${id}`, { method: 'DELETE', key: alice });
  });

  it('PITFALLS "Check, await, insert is a race": a burst of streaming requests queues only the generations it may watch', async () => {
    const recent = () => cluster.redis.client().zcard(`${cluster.prefix}:recent`);
    const before = await recent();
    const burst = await Promise.all(
      Array.from({ length: 8 }, () =>
        fetch(`${ec.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json' },
          body: JSON.stringify(chat(100_000, { stream: true })),
        }),
      ),
    );
    const ok = burst.filter((r) => r.status === 200);
    const refused = burst.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(8);
    expect(ok.length).toBeLessThanOrEqual(2); // MAX_STREAMS_PER_KEY
    // Every refused request was refused before its generation was queued.
    expect(await recent()).toBe(before + ok.length);
    for (const r of refused) expect(((await r.json()) as { error: { code: string } }).error.code).toBe('too_many_streams');
    for (const r of ok) {
      await r.body?.cancel();
      await call(`${ec.url}/v1/generations/${r.headers.get('x-generation-id')}`, { method: 'DELETE', key: bob });
    }
  });
});

describe('request size limits', () => {
  it('BODY_LIMIT_BYTES: 413 payload_too_large', async () => {
    const big = chat(3, { messages: [{ role: 'user', content: 'x'.repeat(5_000) }] });
    expectError(await call(`${ec.url}/v1/chat/completions`, { json: big, key: alice }), 413, 'payload_too_large');
    expectError(await call(`${ec.url}/v1/generations`, { json: big, key: alice }), 413, 'payload_too_large');
  });

  it('MAX_PROMPT_CHARS: 400 context_length_exceeded', async () => {
    const long = 'y'.repeat(501);
    expectError(await call(`${ec.url}/v1/generations`, { json: { model: 'mock', messages: [{ role: 'user', content: long }] }, key: alice }), 400, 'context_length_exceeded');
    const split = {
      model: 'mock',
      messages: [
        { role: 'system', content: long.slice(0, 300) },
        { role: 'user', content: long.slice(300) },
      ],
    };
    expectError(await call(`${ec.url}/v1/chat/completions`, { json: split, key: alice }), 400, 'context_length_exceeded');
    expectError(await call(`${ec.url}/v1/completions`, { json: { model: 'mock', prompt: long }, key: alice }), 400, 'context_length_exceeded');
    expect((await call(`${ec.url}/v1/generations`, { json: { model: 'mock', messages: [{ role: 'user', content: 'z'.repeat(500) }] }, key: alice })).status).toBe(202);
  });

  it('MAX_TOKENS_CAP: 400 for max_tokens above the cap', async () => {
    for (const field of ['max_tokens', 'max_completion_tokens']) {
      const res = await call(`${ec.url}/v1/chat/completions`, { json: chat(3, { [field]: 101 }), key: alice });
      expectError(res, 400, 'max_tokens_exceeded');
      expect(res.body.error.param).toBe('max_tokens');
    }
    expectError(await call(`${ec.url}/v1/completions`, { json: { model: 'mock', prompt: 'hi', max_tokens: 10_000 }, key: alice }), 400, 'max_tokens_exceeded');
    const ok = await call(`${ec.url}/v1/chat/completions`, { json: chat(500, { max_tokens: 100 }), key: alice });
    expect(ok.status).toBe(200);
    expect(ok.body.usage.completion_tokens).toBe(100);
  });
});

describe('MAX_QUEUE_DEPTH=3 with no producer', () => {
  it('refuses new jobs with 503 queue_full and Retry-After once the queue is full', async () => {
    for (let i = 0; i < 3; i++) expect((await call(`${ed.url}/v1/generations`, { json: chat(3) })).status).toBe(202);
    const full = await call(`${ed.url}/v1/generations`, { json: chat(3) });
    expectError(full, 503, 'queue_full');
    expectRetryAfter(full, 60);
    // Still full once the edge reads the depth from Redis again (not only its own count).
    await sleep(400);
    expectError(await call(`${ed.url}/v1/chat/completions`, { json: chat(3) }), 503, 'queue_full');
    // Watching is not refused: only new work is.
    expect((await call(`${ed.url}/readyz`)).status).toBe(200);
  });
});
