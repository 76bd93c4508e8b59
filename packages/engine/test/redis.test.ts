import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestRedis, useRedis } from '../../../test/support/redis.js';
import { createRedisEngine, type Engine, OffsetMismatchError } from '../src/index.js';
import { engineConformance, newMeta, tok } from './conformance.js';
import { writersAcrossProcesses } from './writers.js';

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

function need(): TestRedis {
  if (!redis) throw new Error(`the Redis run needs a Redis and could not get one: ${setupError instanceof Error ? setupError.message : String(setupError)}`);
  return redis;
}

const opened: Engine[] = [];
afterAll(async () => {
  for (const e of opened) await e.close();
});

/** Two engines on one fresh prefix, as two producer processes on one Redis. */
async function pair(name = 'tokencast:writers') {
  const r = need();
  const prefix = `${r.prefix}-${++n}`;
  const make = () => createRedisEngine({ url: r.url, prefix, name, blockMs: 1_000, watchdogMarginMs: 2_000, commandTimeoutMs: 5_000 });
  const a = make();
  const b = make();
  opened.push(a, b);
  const c = new Redis(r.url);
  const entryIds = async (id: string) => (await c.xrange(`${prefix}:{${id}}:events`, '-', '+')).map(([eid]) => eid);
  return { a, b, entryIds, client: c, prefix };
}

writersAcrossProcesses('redis', () => pair());

describe('redis: the fast append after a reconnect', () => {
  it('a writer whose connection dropped writes its next token through append.lua, which finds a store that lost events', async () => {
    const name = `tokencast:rewind-${++n}`;
    const { a, client, prefix } = await pair(name);
    const meta = newMeta();
    await a.queue.enqueue(meta);
    const fence = (await a.store.claim(meta.id, 'p1'))?.fence as number;
    for (let k = 0; k < 6; k++) await a.store.append(meta.id, fence, k, [tok(String(k))]);
    // A Redis restart that lost the newest 2 events: they go, the last id goes back, and every
    // connection drops (one transaction, so no append slips in between).
    const list = String(await client.client('LIST'));
    const writerIds = list
      .split('\n')
      .filter((line) => line.includes(` name=${name}:writer `))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string);
    expect(writerIds.length).toBeGreaterThan(0);
    const events = `${prefix}:{${meta.id}}:events`;
    const tx = client.multi().xdel(events, `6-${fence}`, `5-${fence}`).xsetid(events, `4-${fence}`);
    for (const w of writerIds) tx.client('KILL', 'ID', w);
    await tx.exec();
    // Its idea of the newest offset (6) is wrong now: refused, not written as 7 after a gap.
    let refused: unknown = null;
    for (let attempt = 0; attempt < 50 && refused === null; attempt++) {
      try {
        await a.store.append(meta.id, fence, 6, [tok('after the gap')]);
        break;
      } catch (err) {
        if (err instanceof OffsetMismatchError) refused = err;
        else await new Promise((r) => setTimeout(r, 100)); // the connection is coming back
      }
    }
    expect(refused).toBeInstanceOf(OffsetMismatchError);
    expect((await client.xrange(events, '-', '+')).map(([eid]) => eid)).toEqual([1, 2, 3, 4].map((k) => `${k}-${fence}`));
  });
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
