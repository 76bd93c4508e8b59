import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/**
 * Issue #13: a generation's streaming response is its edge's own creation, so the edge makes its
 * channel from the meta it is about to store and follows it before the job is queued (Hub.seed):
 * its viewer reads neither the meta back nor the stream. On a Redis Cluster each was a round trip
 * per generation. What is left is the claim's own read of the meta (inside claim-2.lua).
 */
describe('the creating request of a streamed generation', () => {
  let redis: RedisServer;
  let proc: Proc;

  beforeAll(async () => {
    redis = await startRedisServer();
    proc = await startEmbedded({ REDIS_URL: redis.url, MOCK_TOKENS_PER_SECOND: '500', MOCK_TTFT_MS: '1', LOG_LEVEL: 'warn' });
  });

  afterAll(async () => {
    await proc?.kill();
    await redis?.stop();
  });

  const stream = async (content: string) => {
    const res = await fetch(`${proc.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', stream: true, messages: [{ role: 'user', content: `[mock:len=20] ${content}` }] }),
    });
    expect(res.status).toBe(200);
    return res.text();
  };

  it('reads no meta and no stream: every event comes by the doorbell', async () => {
    await stream('warm up'); // the tail's doorbell subscription is confirmed by now
    const c = new Redis(redis.url);
    try {
      await c.config('RESETSTAT');
      const body = await stream('measured');
      const stats = await c.info('commandstats');
      const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      // The whole text, and its end, arrived.
      const content = [...body.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');
      expect(content.split(' ').filter(Boolean)).toHaveLength(20);
      expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true);
      // One HGETALL: claim-2.lua's (commandstats counts a script's commands). None by the edge.
      expect(calls('hgetall')).toBe(1);
      expect(calls('evalsha') + calls('eval')).toBeGreaterThanOrEqual(1);
      expect(calls('xread')).toBe(0);
      expect(calls('xrange')).toBe(0);
    } finally {
      c.disconnect();
    }
  });
});
