import { afterAll, beforeAll } from 'vitest';
import { type TestRedis, useRedis } from '../../../test/support/redis.js';
import { createRedisEngine } from '../src/index.js';
import { engineConformance } from './conformance.js';

// Never skipped: without a Redis, useRedis() throws with instructions and every test here fails.
let redis: TestRedis | null = null;
let setupError: unknown = null;
let n = 0;

beforeAll(async () => {
  try {
    redis = await useRedis();
  } catch (err) {
    setupError = err;
  }
});

afterAll(async () => {
  await redis?.stop();
});

engineConformance('redis', async (opts) => {
  if (!redis) {
    throw new Error(`the Redis conformance run needs a Redis and could not get one: ${setupError instanceof Error ? setupError.message : String(setupError)}`);
  }
  // One key prefix per test: its own queue, group and keys.
  return createRedisEngine({
    url: redis.url,
    prefix: `${redis.prefix}-${++n}`,
    name: 'tokencast:conformance',
    ttlSeconds: opts.ttlSeconds ?? 3_600,
    blockMs: opts.blockMs ?? 1_000,
    watchdogMarginMs: 2_000,
    commandTimeoutMs: 5_000,
  });
});
