import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisEngine, type Engine } from '@tokencast/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, call, chat, expectError, startCluster } from '../gateway/support.js';
import type { Proc } from '../support/processes.js';

/**
 * Issue #14, items 3, 4 and 11, against real edge processes, a real producer and a real
 * redis-server: where credentials may travel, what a revocation ends, and what a failed request
 * writes to the log.
 */
const AUTH_CACHE_MS = 600;
const K = { alice: `sk-alice-${randomBytes(16).toString('hex')}`, dave: `sk-dave-${randomBytes(16).toString('hex')}` };

let cluster: Cluster;
let edge: Proc;
let engine: Engine;

beforeAll(async () => {
  cluster = await startCluster();
  [edge] = await Promise.all([
    cluster.edge({ API_KEYS: `alice:${K.alice}`, AUTH_CACHE_MS: String(AUTH_CACHE_MS), READ_TOKEN_SECRET: randomBytes(32).toString('hex') }),
    cluster.producer({ MOCK_TOKENS_PER_SECOND: '50' }),
  ]);
  engine = createRedisEngine({ url: cluster.redis.url, prefix: cluster.prefix, name: 'test' });
}, 60_000);

afterAll(async () => {
  await engine?.close();
  await cluster?.stop();
});

async function create(key: string, len = 3): Promise<{ id: string; token: string }> {
  const res = await call(`${edge.url}/v1/generations`, { json: chat(len), key });
  expect(res.status).toBe(202);
  return { id: res.body.id, token: res.body.read_token };
}

/** Reads an SSE response to its end; resolves with the text and when it ended. */
async function readAll(res: Response): Promise<{ text: string; endedAt: number }> {
  const text = await res.text();
  return { text, endedAt: Date.now() };
}

describe('#14.4 where credentials may travel', () => {
  it('#14.4 ?token= takes read tokens only, on reads only; an API key in a URL is refused everywhere', async () => {
    const g = await create(K.alice);
    const q = (cred: string) => `token=${encodeURIComponent(cred)}`;
    // A read token in the URL still opens its generation's reads (EventSource needs that).
    expect((await call(`${edge.url}/v1/generations/${g.id}?${q(g.token)}`)).status).toBe(200);
    expect((await call(`${edge.url}/v1/generations/${g.id}/events?${q(g.token)}`)).status).toBe(200);
    // An API key in the URL is refused, on reads and on writes, with a code that says why.
    expectError(await call(`${edge.url}/v1/generations/${g.id}?${q(K.alice)}`), 401, 'api_key_in_url');
    expectError(await call(`${edge.url}/v1/generations/${g.id}/events?${q(K.alice)}`), 401, 'api_key_in_url');
    expectError(await call(`${edge.url}/v1/generations?${q(K.alice)}`, { json: chat(3) }), 401, 'api_key_in_url');
    expectError(await call(`${edge.url}/v1/chat/completions?${q(K.alice)}`, { json: chat(3) }), 401, 'api_key_in_url');
    expectError(await call(`${edge.url}/v1/generations/${g.id}/cancel?${q(K.alice)}`, { method: 'POST' }), 401, 'api_key_in_url');
    expectError(await call(`${edge.url}/v1/stream/mine?${q(K.alice)}`, { method: 'PUT' }), 401, 'api_key_in_url');
    expect((await call(`${edge.url}/v1/stream/mine?${q(K.alice)}`)).status).toBe(401);
    // A read token in the URL of a write is no write permission either.
    expect((await call(`${edge.url}/v1/generations/${g.id}/cancel?${q(g.token)}`, { method: 'POST' })).status).toBe(401);
    // The same key in a header works.
    expect((await call(`${edge.url}/v1/stream/mine`, { method: 'PUT', key: K.alice })).status).toBe(201);
  });

  it('#14.4 /v1/messages accepts x-api-key, the Anthropic SDK’s header', async () => {
    const res = await call(`${edge.url}/v1/messages`, {
      json: { model: 'mock', max_tokens: 16, messages: [{ role: 'user', content: 'hello [mock:len=4]' }] },
      headers: { 'x-api-key': K.alice, 'anthropic-version': '2023-06-01' },
    });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('message');
    const wrong = await call(`${edge.url}/v1/messages`, {
      json: { model: 'mock', max_tokens: 16, messages: [{ role: 'user', content: 'x' }] },
      headers: { 'x-api-key': 'sk-wrong-0123456789abcdef' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.type).toBe('error');
  });
});

describe('#14.3 revocation', () => {
  it('#14.3 revoking a key ends its read tokens and the streams it opened within AUTH_CACHE_MS', async () => {
    await engine.keys.add('dave', createHash('sha256').update(K.dave).digest('hex'));
    // 600 tokens at 50/s: still running long after the revocation below.
    const g = await create(K.dave, 600);
    const byKey = await fetch(`${edge.url}/v1/generations/${g.id}/events`, { headers: { authorization: `Bearer ${K.dave}` } });
    const byToken = await fetch(`${edge.url}/v1/generations/${g.id}/events?token=${encodeURIComponent(g.token)}`);
    const view = await fetch(`${edge.url}/v1/stream/generations/${g.id}?offset=-1&live=sse`, { headers: { authorization: `Bearer ${g.token}` } });
    const durable = await call(`${edge.url}/v1/stream/dave-s`, { method: 'PUT', key: K.dave });
    expect(durable.status).toBe(201);
    const durableSse = await fetch(`${edge.url}/v1/stream/dave-s?offset=-1&live=sse`, { headers: { authorization: `Bearer ${K.dave}` } });
    for (const r of [byKey, byToken, view, durableSse]) expect(r.status).toBe(200);
    const ends = [byKey, byToken, view, durableSse].map(readAll);
    await sleep(300);
    expect(await engine.keys.revoke('dave')).toBe(true);
    const revokedAt = Date.now();
    const done = await Promise.race([Promise.all(ends), sleep(AUTH_CACHE_MS + 4_000).then(() => null)]);
    expect(done, 'streams still open long after the revocation').not.toBeNull();
    for (const d of done ?? []) expect(d.endedAt - revokedAt).toBeLessThanOrEqual(AUTH_CACHE_MS + 400);
    expect(done?.[0]?.text).toContain('key_revoked');
    expect(done?.[1]?.text).toContain('key_revoked');
    // The generation itself was still running: it was the access that ended, not the stream.
    expect(done?.[0]?.text).not.toContain('"finish_reason":"stop"');
    // The token is worth nothing now, on every route (the unknown-id answer).
    expect((await call(`${edge.url}/v1/generations/${g.id}?token=${encodeURIComponent(g.token)}`)).status).toBe(404);
    expect((await call(`${edge.url}/v1/generations/${g.id}/events`, { key: g.token })).status).toBe(404);
    expect((await call(`${edge.url}/v1/stream/generations/${g.id}`, { key: g.token })).status).toBe(404);
    // Other keys' tokens still work.
    const a = await create(K.alice);
    expect((await call(`${edge.url}/v1/generations/${a.id}`, { key: a.token })).status).toBe(200);
  }, 30_000);
});

describe('#14.11 log lines', () => {
  it('#14.11 a failed request logs one msg key, and the error text under its own key', async () => {
    // Its own key prefix: no producer takes its jobs, so the second one finds the queue full.
    const lonely = await cluster.edge({ TOKENCAST_KEY_PREFIX: `${cluster.prefix}q`, MAX_QUEUE_DEPTH: '1', LOG_LEVEL: 'info' });
    expect((await call(`${lonely.url}/v1/generations`, { json: chat(3) })).status).toBe(202);
    expectError(await call(`${lonely.url}/v1/generations`, { json: chat(3) }), 503, 'queue_full');
    const logs = await lonely.waitForLog('request failed', 15_000);
    const line = logs.split('\n').find((l) => l.includes('request failed'));
    expect(line).toBeDefined();
    expect(line?.match(/"msg":/g)?.length).toBe(1);
    const parsed = JSON.parse(line as string) as Record<string, unknown>;
    expect(parsed.msg).toBe('request failed');
    expect(parsed.code).toBe('queue_full');
    expect(String(parsed.error)).toMatch(/queue is full/);
  });
});
