import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_MAIN, PRODUCER_MAIN, startProcess } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/** PITFALLS "Eviction deletes whole streams": refuse to start unless the policy is noeviction. */
describe('maxmemory-policy other than noeviction', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedisServer({ args: ['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru'] });
  });

  afterAll(async () => {
    await redis?.stop();
  });

  for (const [role, main] of [
    ['edge', EDGE_MAIN],
    ['producer', PRODUCER_MAIN],
  ] as const) {
    it(`the ${role} refuses to start, saying why and how to override`, async () => {
      const p = await startProcess(main, { REDIS_URL: redis.url }, [], { waitForHttp: false });
      const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
      if (code === 'timeout') await p.kill();
      expect(code).toBe(1);
      expect(await p.waitForLog('maxmemory-policy is allkeys-lru')).toContain('maxmemory-policy is allkeys-lru');
      expect(await p.waitForLog('REDIS_ALLOW_EVICTION=true')).toContain('REDIS_ALLOW_EVICTION=true');
    });
  }

  it('starts with a warning when REDIS_ALLOW_EVICTION=true', async () => {
    const p = await startProcess(EDGE_MAIN, { REDIS_URL: redis.url, REDIS_ALLOW_EVICTION: 'true' });
    try {
      expect((await fetch(`${p.url}/readyz`)).status).toBe(200);
      expect(await p.waitForLog('running anyway because REDIS_ALLOW_EVICTION=true')).toContain('running anyway because REDIS_ALLOW_EVICTION=true');
    } finally {
      await p.kill();
    }
  });

  it('a volatile-* policy is refused too: every tokencast key has a TTL', async () => {
    const c = redis.client();
    await c.config('SET', 'maxmemory-policy', 'volatile-lru');
    const p = await startProcess(EDGE_MAIN, { REDIS_URL: redis.url }, [], { waitForHttp: false });
    const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    if (code === 'timeout') await p.kill();
    expect(code).toBe(1);
    expect(await p.waitForLog('volatile-lru')).toContain('volatile-lru');
  });
});
