import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/**
 * Issue #13: an edge checks every quiet generation it follows for liveness (a store that lost or
 * rewound it) every EDGE_LIVENESS_CHECK_MS. With thousands followed that is most of an idle
 * edge's Redis work, so a check must read no meta hash (which holds the whole request, images
 * included) and no event body: an EXISTS and one XREVRANGE … COUNT 1 of the newest entry.
 */
describe('liveness checks of quiet generations', () => {
  let redis: RedisServer;
  let edge: Proc;

  beforeAll(async () => {
    redis = await startRedisServer();
    // A slow model: after its first token a generation is live and quiet for seconds at a time.
    edge = await startEmbedded({
      REDIS_URL: redis.url,
      MOCK_TOKENS_PER_SECOND: '0.25',
      MOCK_TTFT_MS: '1',
      EDGE_LIVENESS_CHECK_MS: '200',
      HEARTBEAT_MS: '100',
      MAX_PROMPT_CHARS: '1000000',
      LOG_LEVEL: 'warn',
    });
  });

  afterAll(async () => {
    await edge?.kill();
    await redis?.stop();
  });

  it('read no meta hash and no event: EXISTS and XREVRANGE COUNT 1 per check', async () => {
    const big = 'x'.repeat(200_000); // a large request, which HGETALL of the meta would carry every time
    const ids: string[] = [];
    const viewers: AbortController[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${edge.url}/v1/generations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: `${big} ${i}` }] }),
      });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      ids.push(id);
      const ac = new AbortController();
      const view = await fetch(`${edge.url}/v1/generations/${id}/events`, { signal: ac.signal });
      expect(view.status).toBe(200);
      void view.body?.pipeTo(new WritableStream()).catch(() => {});
      viewers.push(ac);
    }
    const c = new Redis(redis.url);
    await sleep(1_000); // the first token (a channel is checked once it has seen an event)
    await c.config('RESETSTAT');
    await sleep(2_000);
    const stats = await c.info('commandstats');
    const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    // 3 followed × 2 s / 200 ms: about 30 checks (timers on a loaded machine may run late).
    expect(calls('exists')).toBeGreaterThanOrEqual(6);
    expect(calls('xrevrange')).toBeGreaterThanOrEqual(6);
    expect(calls('hgetall')).toBe(0);
    expect(calls('xrange')).toBe(0);
    c.disconnect();
    for (const ac of viewers) ac.abort();
  });
});
