import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { readSse } from '../support/sse.js';

/**
 * PITFALLS "A recreated stream reuses small ids": when the store loses its newest events (a Redis
 * restart with partial persistence), a viewer is told, never handed two texts spliced together.
 */
describe('a store that went back in time', () => {
  let redis: RedisServer;
  let edge: Proc;

  beforeAll(async () => {
    redis = await startRedisServer();
    edge = await startEmbedded({ REDIS_URL: redis.url, MOCK_TOKENS_PER_SECOND: '20', EDGE_LIVENESS_CHECK_MS: '500', HEARTBEAT_MS: '200', RECLAIM_IDLE_MS: '60000' });
  });

  afterAll(async () => {
    await edge?.kill();
    await redis?.stop();
  });

  it('ends live viewers with generation_rewound instead of splicing', async () => {
    const res = await fetch(`${edge.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: '[mock:len=400] long' }] }),
    });
    const { id } = (await res.json()) as { id: string };
    const viewer = readSse(`${edge.url}/v1/generations/${id}/events`);
    await new Promise((r) => setTimeout(r, 1000));
    // Simulate lost writes: drop the newest 5 events and roll the meta back, as a Redis restart
    // that lost its last second would.
    const c = new Redis(redis.url);
    const stream = `tc:{${id}}:events`;
    const newest = await c.xrevrange(stream, '+', '-', 'COUNT', 5);
    expect(newest.length).toBe(5);
    await c.xdel(stream, ...newest.map(([eid]) => eid));
    const last = Number((await c.hget(`tc:{${id}}:meta`, 'last_offset')) ?? 0);
    await c.hset(`tc:{${id}}:meta`, 'last_offset', String(last - 5));
    c.disconnect();
    const read = await Promise.race([viewer, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
    expect(read).not.toBeNull();
    const errors = read?.events.filter((e) => e.data.includes('"error"')) ?? [];
    expect(errors.length).toBe(1);
    expect(errors[0]?.data).toContain('generation_rewound');
    expect(read?.done).toBe(true);
    // What the viewer got is a prefix of the true text, offsets gapless, nothing after the rewind point spliced in.
    const ids = read?.ids ?? [];
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
  }, 30_000);
});
