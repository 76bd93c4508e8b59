import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, chat } from '../gateway/support.js';
import { type Proc, startEdge, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/**
 * Issue #14, item 2 (the full-Redis half): with maxmemory reached under noeviction, the write
 * that hits it fails with a clear 507 storage_full, and everything already stored stays readable.
 * Durable Streams get a default lifetime; per-key count and byte quotas: test/durable/quota.test.ts.
 */
let redis: RedisServer;
let edge: Proc;

beforeAll(async () => {
  redis = await startRedisServer();
  edge = await startEdge({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'full', LOG_LEVEL: 'warn', EDGE_DEBUG_STATS: '1' });
});

afterAll(async () => {
  await redis?.client().config('SET', 'maxmemory', '0');
  await edge?.kill();
  await redis?.stop();
});

describe('#14.2 a full Redis', () => {
  it('#14.2 a full Redis fails only the writer that hit it, with 507 storage_full; reads of others keep working', async () => {
    // Another tenant's things, stored before Redis fills.
    expect((await call(`${edge.url}/v1/stream/other`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'kept' })).status).toBe(201);
    const gen = await call(`${edge.url}/v1/generations`, { json: chat(3) });
    expect(gen.status).toBe(202);
    expect((await call(`${edge.url}/v1/stream/filler`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } })).status).toBe(201);
    const r = redis.client();
    const used = Number(/used_memory:(\d+)/.exec(await r.info('memory'))?.[1]);
    await r.config('SET', 'maxmemory-policy', 'noeviction');
    await r.config('SET', 'maxmemory', String(used + 4 * 1_048_576));
    const chunk = Buffer.alloc(512 * 1024, 'f');
    let refused: Awaited<ReturnType<typeof call>> | null = null;
    for (let i = 0; i < 64 && !refused; i++) {
      const res = await call(`${edge.url}/v1/stream/filler`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: chunk });
      if (res.status !== 204) refused = res;
    }
    expect(refused, 'Redis never filled').not.toBeNull();
    expect(refused?.status).toBe(507);
    expect(refused?.body.error.code).toBe('storage_full');
    // Reads of what others stored still work while Redis is full.
    const other = await fetch(`${edge.url}/v1/stream/other`);
    expect(other.status).toBe(200);
    expect(await other.text()).toBe('kept');
    expect((await call(`${edge.url}/v1/generations/${gen.body.id}`)).status).toBe(200);
    // A streamed generation that could not be stored leaves nothing behind on the edge: its
    // channel, made before the enqueue (Hub.seed), is gone and not followed.
    const held = async () => (await call(`${edge.url}/debug/stats`)).body as { channels: number; followed: number };
    const before = await held();
    await r.config('SET', 'maxmemory', '1'); // surely over: the enqueue's transaction is refused
    const streamed = await call(`${edge.url}/v1/chat/completions`, { json: { ...chat(3), stream: true }, signal: AbortSignal.timeout(10_000) });
    expect(streamed.status).toBe(507);
    expect(streamed.body.error.code).toBe('storage_full');
    expect(await held()).toMatchObject({ channels: before.channels, followed: before.followed });
    await r.config('SET', 'maxmemory', '0');
    expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
  }, 60_000);
});

describe('#14.2 Durable Streams default TTL', () => {
  it('#14.2 a durable stream created without Stream-TTL or Stream-Expires-At gets DURABLE_STREAMS_DEFAULT_TTL_SECONDS and expires', async () => {
    const e = await startEmbedded({ LOG_LEVEL: 'warn', DURABLE_STREAMS_DEFAULT_TTL_SECONDS: '1' });
    try {
      expect((await fetch(`${e.url}/v1/stream/forgotten`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(201);
      expect((await fetch(`${e.url}/v1/stream/kept`, { method: 'PUT', headers: { 'content-type': 'text/plain', 'stream-ttl': '60' }, body: 'x' })).status).toBe(201);
      const head = await fetch(`${e.url}/v1/stream/forgotten`, { method: 'HEAD' });
      expect(head.headers.get('stream-ttl')).toBe('1');
      await sleep(2_500);
      expect((await fetch(`${e.url}/v1/stream/forgotten`)).status).toBe(404);
      const kept = await fetch(`${e.url}/v1/stream/kept`, { method: 'HEAD' });
      expect(kept.status).toBe(200);
      expect(kept.headers.get('stream-ttl')).toBe('60');
    } finally {
      await e.kill();
    }
  }, 30_000);
});
