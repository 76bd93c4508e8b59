import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestRedis, useRedis } from '../../../test/support/redis.js';
import { createRedisEngine, type Engine, FencedError, MissingGenerationError, OffsetMismatchError, StoreFullError } from '../src/index.js';
import { end, engineConformance, newMeta, tok } from './conformance.js';
import { appendAfterLoss, writersAcrossProcesses } from './writers.js';

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

/** The ids of the connections named `name` (CLIENT LIST), to kill them. */
async function clientIds(client: Redis, name: string): Promise<string[]> {
  return String(await client.client('LIST'))
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string);
}

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

/** pair(), and one generation enqueued and claimed by "p1" on engine a, with its keys. */
async function claimedGeneration(name?: string) {
  const p = await pair(name);
  const meta = newMeta();
  await p.a.queue.enqueue(meta);
  const fence = (await p.a.store.claim(meta.id, 'p1'))?.fence as number;
  return { ...p, meta, fence, events: `${p.prefix}:{${meta.id}}:events`, metaKey: `${p.prefix}:{${meta.id}}:meta` };
}

writersAcrossProcesses('redis', () => pair());

describe('redis: the fast append after a reconnect', () => {
  it('a writer whose connection dropped writes its next token through append.lua, which finds a store that lost events', async () => {
    const name = `tokencast:rewind-${++n}`;
    const { a, client, meta, fence, events } = await claimedGeneration(name);
    for (let k = 0; k < 6; k++) await a.store.append(meta.id, fence, k, [tok(String(k))]);
    // A Redis restart that lost the newest 2 events: they go, the last id goes back, and every
    // connection drops (one transaction, so no append slips in between).
    const writerIds = await clientIds(client, `${name}:writer`);
    expect(writerIds.length).toBeGreaterThan(0);
    const tx = client.multi().xdel(events, `6-${fence}`, `5-${fence}`).xsetid(events, `4-${fence}`);
    for (const w of writerIds) tx.client('KILL', 'ID', w);
    await tx.exec();
    // Its idea of the newest offset (6) is wrong now: refused, not written as 7 after a gap.
    expect(await appendAfterLoss(a, meta.id, fence, 6)).toBeInstanceOf(OffsetMismatchError);
    expect((await client.xrange(events, '-', '+')).map(([eid]) => eid)).toEqual([1, 2, 3, 4].map((k) => `${k}-${fence}`));
  });
});

describe('redis: the first token after a claim', () => {
  it('is a plain XADD: the claim gave the stream its TTL, getMeta reads first_token_at from the event until the end writes it', async () => {
    const { a, client, meta, fence, events, metaKey } = await claimedGeneration('tokencast:first-token');
    // Before any token: an empty stream that expires with the meta, its last id below 1-<fence>.
    expect(await client.xlen(events)).toBe(0);
    expect(await client.ttl(events)).toBeGreaterThan(0);
    expect(await client.ttl(metaKey)).toBeGreaterThan(0);
    const before = Date.now();
    await a.store.append(meta.id, fence, 0, [tok('one')]);
    await a.store.append(meta.id, fence, 1, [tok(' two')]);
    // append.lua would have written first_token_at: a plain XADD cannot.
    expect(await client.hget(metaKey, 'first_token_at')).toBe('0');
    const running = await a.store.getMeta(meta.id);
    expect(running).toMatchObject({ status: 'running', lastOffset: 2, tokens: 2, firstTokenAt: meta.createdAt + 10 });
    await a.store.append(meta.id, fence, 2, [end()]);
    // The terminal append writes the time the writer saw the first token go out.
    const stored = Number(await client.hget(metaKey, 'first_token_at'));
    expect(stored).toBeGreaterThanOrEqual(before);
    expect(stored).toBeLessThanOrEqual(Date.now());
    expect(await a.store.getMeta(meta.id)).toMatchObject({ status: 'completed', lastOffset: 3, tokens: 2, firstTokenAt: stored });
  });
});

describe('redis: a claim that finds the stream behind its meta', () => {
  it('does not count as a checkpoint: the first append goes through append.lua, which refuses the offset (no gap)', async () => {
    const { a, client, meta, fence: f1, events, metaKey } = await claimedGeneration('tokencast:behind');
    for (let k = 0; k < 5; k++) await a.store.append(meta.id, f1, k, [tok(String(k))]);
    // The stream lost its newest two entries behind its meta's checkpoint at 5 (as a rewind of
    // the stream alone would leave it).
    await client.multi().hset(metaKey, 'last_offset', 5, 'tokens', 5).xdel(events, `5-${f1}`, `4-${f1}`).xsetid(events, `3-${f1}`).exec();
    const claimed = await a.store.claim(meta.id, 'p2');
    expect(claimed?.meta.lastOffset).toBe(5);
    // A plain XADD of 6-<fence> would be accepted after 4-<fence - 1>, leaving offsets 4 and 5 out.
    await expect(a.store.append(meta.id, claimed?.fence as number, 5, [tok('after the gap')])).rejects.toBeInstanceOf(OffsetMismatchError);
    expect((await client.xrange(events, '-', '+')).map(([eid]) => eid)).toEqual([1, 2, 3].map((k) => `${k}-${f1}`));
  });
});

describe('redis: the doorbell (a pub/sub channel)', () => {
  it('a tail reads a stream only when told to: an event written without a ring waits until a ring number is skipped, then the sweep finds it', async () => {
    const { a, client, prefix, meta, fence, events } = await claimedGeneration('tokencast:doorbell');
    await a.store.append(meta.id, fence, 0, [tok('one')]);
    const got: number[] = [];
    const tail = a.store.openTail((_id, events) => {
      for (const ev of events) got.push(ev.offset);
    });
    try {
      tail.add(meta.id, 0);
      await waitUntil(() => got.length === 1); // add() reads the stream once
      // Written behind the batcher's back (no ring): rings that number on without a gap say
      // nothing about it, so the tail does not read the stream.
      await client.xadd(events, `2-${fence}`, 't:11', ' two');
      const ring = (n: number) => client.publish(`${prefix}:bell`, JSON.stringify({ w: 'test-writer', n, e: [], g: [] }));
      await ring(1);
      await ring(2);
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toEqual([1]);
      // Ring 3 never came: the tail cannot know what it carried, so it reads every followed stream.
      await ring(4);
      await waitUntil(() => got.length === 2);
      expect(got).toEqual([1, 2]);
      // A ring carrying the next event is delivered from the ring itself; a ring whose event does
      // not follow the cursor makes the tail read that stream (and find what is really there).
      await client.xadd(events, `3-${fence}`, 't:12', ' three');
      await client.publish(`${prefix}:bell`, JSON.stringify({ w: 'test-writer', n: 5, e: [[meta.id, 3, 't:12', ' three']], g: [] }));
      await waitUntil(() => got.length === 3);
      await client.xadd(events, `4-${fence}`, 't:13', ' four');
      await client.xadd(events, `5-${fence}`, 't:14', ' five');
      await client.publish(`${prefix}:bell`, JSON.stringify({ w: 'test-writer', n: 6, e: [[meta.id, 5, 't:14', ' five']], g: [] }));
      await waitUntil(() => got.length === 5);
      expect(got).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await tail.close();
    }
  });

  it('a tail whose subscription was killed sweeps once it is back: what was written meanwhile arrives', async () => {
    const name = `tokencast:doorbell-kill-${++n}`;
    const { a, client, meta, fence } = await claimedGeneration(name);
    const got: number[] = [];
    const tail = a.store.openTail((_id, events) => {
      for (const ev of events) got.push(ev.offset);
    });
    try {
      tail.add(meta.id, 0);
      await a.store.append(meta.id, fence, 0, [tok('one')]);
      await waitUntil(() => got.length === 1);
      const subscribers = await clientIds(client, `${name}:tokencast:tail`);
      expect(subscribers).toHaveLength(1);
      // Killed, and an append lands while it is away: its ring reaches nobody.
      await client
        .multi()
        .client('KILL', 'ID', subscribers[0] as string)
        .exec();
      await a.store.append(meta.id, fence, 1, [tok('two')]);
      await waitUntil(() => got.length === 2);
      expect(got).toEqual([1, 2]);
    } finally {
      await tail.close();
    }
  });
});

describe('redis: a generation added to the tail as unwritten (Tail.add; the edge adds one it is about to queue)', () => {
  it('is not read while the doorbell is live: its events come by the ring; one that was written after all is found at the next ring', async () => {
    const { a, client, meta, fence, events } = await claimedGeneration(`tokencast:unwritten-${++n}`);
    const got: number[] = [];
    const seen: number[] = [];
    const tail = a.store.openTail((id, evs) => (id === meta.id ? got : seen).push(...evs.map((ev) => ev.offset)));
    try {
      // Another generation's first read comes back only once the doorbell is subscribed.
      const other = newMeta();
      await a.queue.enqueue(other);
      const otherFence = (await a.store.claim(other.id, 'p1'))?.fence as number;
      await a.store.append(other.id, otherFence, 0, [tok('x')]);
      tail.add(other.id, 0);
      await waitUntil(() => seen.length === 1);
      // Written behind the tail's back, then added as if it could not have been: nothing is read.
      await client.xadd(events, `1-${fence}`, 't:10', ' one');
      tail.add(meta.id, 0, true);
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toEqual([]);
      // The next event's ring does not follow the cursor: the tail reads the stream and has both.
      await a.store.append(meta.id, fence, 1, [tok('two')]);
      await waitUntil(() => got.length === 2);
      expect(got).toEqual([1, 2]);
    } finally {
      await tail.close();
    }
  });

  it('is read like any other while the doorbell is not yet subscribed', async () => {
    const { a, meta, fence } = await claimedGeneration(`tokencast:unwritten-early-${++n}`);
    await a.store.append(meta.id, fence, 0, [tok('one')]);
    const got: number[] = [];
    const tail = a.store.openTail((_id, evs) => got.push(...evs.map((ev) => ev.offset)));
    try {
      tail.add(meta.id, 0, true); // the subscription is not confirmed yet
      await waitUntil(() => got.length === 1);
      expect(got).toEqual([1]);
    } finally {
      await tail.close();
    }
  });
});

describe("redis: the provisional ring (sent in the flush's own pipeline, with its plain XADDs)", () => {
  /** A generation claimed and written once by engine a, followed by a tail of engine b, and the doorbell's messages. */
  async function followed(name: string) {
    const g = await claimedGeneration(name);
    await g.a.store.append(g.meta.id, g.fence, 0, [tok('one')]);
    const got: string[] = [];
    const tail = g.b.store.openTail((_id, evs) => got.push(...evs.map((ev) => `${ev.offset}${ev.kind === 'token' ? ev.text : ev.kind}`)));
    const sub = new Redis(need().url);
    const messages: Record<string, unknown>[] = [];
    sub.on('message', (_ch: string, msg: string) => messages.push(JSON.parse(msg)));
    await sub.subscribe(`${g.prefix}:bell`);
    tail.add(g.meta.id, 0); // reads the stream and, with it, the fence
    await waitUntil(() => got.length === 1);
    // A ring of `text` at `offset`, sent provisionally with `fence` (what the tail must not trust).
    const rang = (offset: number, text: string, fence: number) =>
      messages.some((m) => {
        const f = m.f as Record<string, number> | undefined;
        return f?.[g.meta.id] === fence && (m.e as unknown[][]).some((e) => e[0] === g.meta.id && e[1] === offset && String(e[3]).endsWith(text));
      });
    /** `append` is refused with `error`, its token was rung provisionally all the same, and the tail delivered none of it. */
    const refusedUndelivered = async (append: Promise<unknown>, error: new (...args: never[]) => Error, text: string) => {
      const before = [...got];
      await expect(append).rejects.toBeInstanceOf(error);
      await waitUntil(() => rang(2, text, g.fence));
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toEqual(before);
    };
    const close = async () => {
      sub.disconnect();
      await tail.close();
    };
    return { ...g, got, messages, refusedUndelivered, close };
  }

  it('a writer fenced out by a newer claim: its refused XADD was rung, and no tail delivers it (the claim announced its fence first)', async () => {
    const { a, b, meta, fence, got, messages, refusedUndelivered, close } = await followed(`tokencast:provisional-fenced-${++n}`);
    try {
      const fence2 = (await b.store.claim(meta.id, 'p2'))?.fence as number;
      expect(messages).toContainEqual({ c: meta.id, f: fence2 });
      // a does not know: its next token goes by the fast path, refused, with its ring beside it.
      await refusedUndelivered(a.store.append(meta.id, fence, 1, [tok(' stale')]), FencedError, ' stale');
      await b.store.append(meta.id, fence2, 1, [tok(' fresh')]);
      await waitUntil(() => got.length === 2);
      await new Promise((r) => setTimeout(r, 100));
      expect(got).toEqual(['1one', '2 fresh']);
    } finally {
      await close();
    }
  });

  it('a generation deleted while written: its refused XADD was rung, and no tail delivers it (the deletion was announced first)', async () => {
    const { a, b, meta, fence, got, messages, refusedUndelivered, close } = await followed(`tokencast:provisional-gone-${++n}`);
    try {
      expect(await b.store.delete(meta.id)).toBe(true);
      expect(messages).toContainEqual({ d: meta.id });
      await refusedUndelivered(a.store.append(meta.id, fence, 1, [tok(' ghost')]), MissingGenerationError, ' ghost');
      expect(got).toEqual(['1one']);
    } finally {
      await close();
    }
  });

  it('a tail whose subscription ended forgets the fences it knew: a claim made meanwhile (its notice lost) is read again before a ring is trusted', async () => {
    const name = `tokencast:provisional-resub-${++n}`;
    const { a, client, prefix, meta, fence, metaKey, events, got, refusedUndelivered, close } = await followed(name);
    try {
      const tailSub = await clientIds(client, `${name}:tokencast:tail`);
      expect(tailSub).toHaveLength(1);
      // A takeover while the tail's subscription is down, done as claim-2.lua does it but
      // unannounced (the notice would have been lost anyway), in one transaction with the kill.
      await client
        .multi()
        .client('KILL', 'ID', tailSub[0] as string)
        .hincrby(metaKey, 'fence', 1)
        .xsetid(events, `2-${fence}`)
        .exec();
      const subscribers = async () => Number(((await client.pubsub('NUMSUB', `${prefix}:bell`)) as [string, number])[1]);
      const until = Date.now() + 5_000;
      while ((await subscribers()) < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200)); // the sweep after the subscription is confirmed
      await refusedUndelivered(a.store.append(meta.id, fence, 1, [tok(' stale')]), FencedError, ' stale');
      expect(got).toEqual(['1one']);
    } finally {
      await close();
    }
  });

  it('a store full (OOM under noeviction) refuses the XADDs and their ring together: no tail delivers a token that was not stored', async () => {
    const { a, client, meta, fence, got, messages, close } = await followed(`tokencast:provisional-oom-${++n}`);
    try {
      await client.config('SET', 'maxmemory', '1');
      await expect(a.store.append(meta.id, fence, 1, [tok(' full')])).rejects.toBeInstanceOf(StoreFullError);
      await new Promise((r) => setTimeout(r, 300));
      expect(messages.filter((m) => JSON.stringify(m).includes(' full'))).toEqual([]);
      expect(got).toEqual(['1one']);
      // Room again: the same offset takes the next event, and the tail delivers that one.
      await client.config('SET', 'maxmemory', '0');
      await a.store.append(meta.id, fence, 1, [tok(' roomy')]);
      await waitUntil(() => got.length === 2);
      expect(got).toEqual(['1one', '2 roomy']);
    } finally {
      await client.config('SET', 'maxmemory', '0');
      await close();
    }
  });

  it('append.lua rings what it wrote, in the same call: of two ends sent together, the one it refused is not in its ring', async () => {
    const { a, b, meta: x, fence: fx, prefix } = await claimedGeneration(`tokencast:script-ring-${++n}`);
    const y = newMeta();
    await a.queue.enqueue(y);
    const fy = (await a.store.claim(y.id, 'p1'))?.fence as number;
    await b.store.claim(y.id, 'p2'); // a is fenced out of y
    const sub = new Redis(need().url);
    const rings: { n: number; e: unknown[][]; f?: unknown }[] = [];
    sub.on('message', (_ch: string, msg: string) => {
      const m = JSON.parse(msg);
      if (m.w) rings.push(m);
    });
    await sub.subscribe(`${prefix}:bell`);
    try {
      const [ox, oy] = await Promise.allSettled([a.store.append(x.id, fx, 0, [end()]), a.store.append(y.id, fy, 0, [end()])]);
      expect(ox).toEqual({ status: 'fulfilled', value: { lastOffset: 1 } });
      expect(oy.status === 'rejected' && oy.reason).toBeInstanceOf(FencedError);
      await waitUntil(() => rings.length === 1);
      expect(rings[0]?.f).toBeUndefined(); // confirmed, not provisional
      expect(rings[0]?.e.map((e) => [e[0], e[1]])).toEqual([[x.id, 1]]);
    } finally {
      sub.disconnect();
    }
  });
});

describe('redis: the flush window (REDIS_APPEND_BATCH_MS) is a throttle, not a debounce', () => {
  it('an append after a quiet spell goes out at once; appends within the window of a flush share the next one, and its one ring', async () => {
    const r = need();
    const prefix = `${r.prefix}-${++n}`;
    const windowMs = 1_000;
    const e = createRedisEngine({ url: r.url, prefix, name: 'tokencast:window', blockMs: 1_000, watchdogMarginMs: 2_000, commandTimeoutMs: 5_000, appendBatchMs: windowMs });
    opened.push(e);
    const sub = new Redis(r.url);
    const rings: { e: [string, number][] }[] = [];
    sub.on('message', (_ch: string, msg: string) => rings.push(JSON.parse(msg)));
    await sub.subscribe(`${prefix}:bell`);
    try {
      const [x, y] = [newMeta(), newMeta()];
      const fences: number[] = [];
      for (const m of [x, y]) {
        await e.queue.enqueue(m);
        fences.push((await e.store.claim(m.id, 'p1'))?.fence as number);
        await e.store.append(m.id, fences.at(-1) as number, 0, [tok('first')]);
      }
      await new Promise((res) => setTimeout(res, windowMs + 100)); // a quiet spell: the window has passed
      rings.length = 0;
      // Alone after the quiet spell: not held for the window (a debounce would hold it 1 s).
      let t = Date.now();
      await e.store.append(x.id, fences[0] as number, 1, [tok(' two')]);
      const lone = Date.now() - t;
      expect(lone).toBeLessThan(windowMs / 2);
      // Right after that flush: both wait for the rest of its window, then go out together.
      t = Date.now();
      await Promise.all([e.store.append(x.id, fences[0] as number, 2, [tok(' three')]), e.store.append(y.id, fences[1] as number, 1, [tok(' two')])]);
      expect(Date.now() - t).toBeGreaterThanOrEqual(windowMs - lone - 50);
      await waitUntil(() => rings.length === 2);
      expect(rings.map((ring) => ring.e.map(([id, offset]) => `${id === x.id ? 'x' : 'y'}${offset}`))).toEqual([['x2'], ['x3', 'y2']]);
    } finally {
      sub.disconnect();
    }
  });
});

async function waitUntil(ok: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

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
