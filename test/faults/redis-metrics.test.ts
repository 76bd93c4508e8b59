import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/** Operators see Redis trouble in /metrics: reconnects and connection errors are counted. */
describe('Redis connection metrics', () => {
  let redis: RedisServer;
  let edge: Proc;

  beforeAll(async () => {
    redis = await startRedisServer();
    edge = await startEmbedded({ REDIS_URL: redis.url, LOG_LEVEL: 'warn' });
  });

  afterAll(async () => {
    await edge?.kill();
    await redis?.stop();
  });

  const metric = async (name: string) => {
    const text = await (await fetch(`${edge.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(' ')[1]) : Number.NaN;
  };

  it('counts reconnects after a Redis restart', async () => {
    expect(await metric('tokencast_redis_reconnects_total')).toBe(0);
    await redis.restart();
    const deadline = Date.now() + 15_000;
    while ((await metric('tokencast_redis_reconnects_total')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await metric('tokencast_redis_reconnects_total')).toBeGreaterThan(0);
    while ((await fetch(`${edge.url}/readyz`)).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${edge.url}/readyz`)).status).toBe(200);
  }, 30_000);
});
