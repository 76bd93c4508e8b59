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
    // Simulate lost writes as a Redis restart that lost its last second would: the newest 5
    // events gone, the stream's last id and the meta back where they were before them, and the
    // writer's connection dropped (a restart drops every connection). One transaction, so the
    // writer cannot slip an append in between.
    const c = new Redis(redis.url);
    const writers = String(await c.client('LIST'))
      .split('\n')
      .filter((line) => / name=\S*:writer /.test(line))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string);
    expect(writers.length).toBeGreaterThan(0);
    const tx = c.multi().eval(
      `local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 6)
       if #newest < 6 then return -1 end
       for k = 1, 5 do redis.call('XDEL', KEYS[1], newest[k][1]) end
       redis.call('XSETID', KEYS[1], newest[6][1])
       local top = tonumber(string.match(newest[6][1], '^(%d+)-'))
       if tonumber(redis.call('HGET', KEYS[2], 'last_offset') or '0') > top then
         redis.call('HSET', KEYS[2], 'last_offset', top)
       end
       return top`,
      2,
      `tc:{${id}}:events`,
      `tc:{${id}}:meta`,
    );
    for (const w of writers) tx.client('KILL', 'ID', w);
    const rolledBack = Number(((await tx.exec()) ?? [])[0]?.[1]);
    expect(rolledBack).toBeGreaterThan(0);
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
