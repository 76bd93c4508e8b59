import { newGenerationId, type StoredEvent } from '@tokencast/protocol';
import { Redis as RedisClient } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, createRedisEngine, Keys, type NewEvent, OffsetMismatchError } from '../../packages/engine/src/index.js';
import { keySlot } from '../../packages/engine/src/redis/cluster-tail.js';
import { end, engineConformance, newMeta, tok } from '../../packages/engine/test/conformance.js';
import { appendAfterLoss, writersAcrossProcesses } from '../../packages/engine/test/writers.js';
import { engineConfig } from '../../packages/runtime/src/index.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';
import { waitFor } from '../support/wait.js';

/**
 * The engine conformance suite, and what only a cluster can break, against a real 3-master
 * Redis Cluster (redis-server --cluster-enabled yes, started here).
 */
let cluster: TestRedisCluster | null = null;
let setupError: unknown = null;
let n = 0;
const run = Math.random().toString(36).slice(2, 7);

beforeAll(async () => {
  try {
    cluster = await startRedisCluster(3);
  } catch (err) {
    setupError = err;
  }
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

function need(): TestRedisCluster {
  if (!cluster) throw new Error(`the Redis Cluster run needs redis-server and redis-cli: ${setupError instanceof Error ? setupError.message : String(setupError)}`);
  return cluster;
}

/**
 * A fresh prefix whose queue and `recent` index live on different masters, so every enqueue
 * crosses nodes the way it will in production (a same-node prefix would hide a cross-slot bug).
 */
async function crossNodePrefix(c: TestRedisCluster): Promise<string> {
  for (;;) {
    const prefix = `c${run}-${++n}`;
    const keys = new Keys(prefix);
    if ((await c.masterOf(keys.queue)) !== (await c.masterOf(keys.recent))) return prefix;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

engineConformance('redis cluster', async (opts) => {
  const c = need();
  return createRedisEngine({
    url: c.url,
    cluster: true,
    prefix: await crossNodePrefix(c),
    name: 'tokencast:conformance',
    ttlSeconds: opts.ttlSeconds ?? 3_600,
    blockMs: opts.blockMs ?? 1_000,
    watchdogMarginMs: 2_000,
    commandTimeoutMs: 5_000,
  });
});

writersAcrossProcesses('redis cluster', async () => {
  const c = need();
  const prefix = await crossNodePrefix(c);
  const make = () => createRedisEngine({ url: c.url, cluster: true, prefix, name: 'tokencast:writers', blockMs: 1_000, watchdogMarginMs: 2_000, commandTimeoutMs: 5_000 });
  const a = make();
  const b = make();
  writerEngines.push(a, b);
  return {
    a,
    b,
    entryIds: async (id: string) => {
      const key = `${prefix}:{${id}}:events`;
      const node = new RedisClient(await c.masterOf(key));
      try {
        return (await node.xrange(key, '-', '+')).map(([eid]) => eid);
      } finally {
        node.disconnect();
      }
    },
  };
});

const writerEngines: Awaited<ReturnType<typeof createRedisEngine>>[] = [];

describe('redis cluster: the fast append after a node connection closed', () => {
  it('lone tokens go straight to the master as plain XADDs; after its connection closed, the next goes through append.lua, which finds a master that lost events', async () => {
    const c = need();
    const prefix = await crossNodePrefix(c);
    const name = `tokencast:cluster-rewind-${++n}`;
    const e = createRedisEngine({ url: c.url, cluster: true, prefix, name, blockMs: 1_000, watchdogMarginMs: 2_000, commandTimeoutMs: 5_000 });
    writerEngines.push(e);
    const meta = newMeta();
    await e.queue.enqueue(meta);
    const fence = (await e.store.claim(meta.id, 'p1'))?.fence as number;
    const events = `${prefix}:{${meta.id}}:events`;
    const node = new RedisClient(await c.masterOf(events));
    try {
      const scripts = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await node.info('commandstats'))?.[1] ?? 0);
      await e.store.append(meta.id, fence, 0, [tok('0')]); // the first append after a claim: careful
      const before = await scripts();
      for (let k = 1; k < 6; k++) await e.store.append(meta.id, fence, k, [tok(String(k))]);
      // The five tokens after it were plain XADDs on the master: no script ran there.
      expect(await scripts()).toBe(before);
      // The master "restarts" without its newest 2 events: they go, the last id goes back, and
      // the engine's connections to it close (one transaction, so no append slips in between).
      const ids = String(await node.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(` name=${name} `))
        .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string);
      expect(ids.length).toBeGreaterThan(0);
      const tx = node.multi().xdel(events, `6-${fence}`, `5-${fence}`).xsetid(events, `4-${fence}`);
      for (const id of ids) tx.client('KILL', 'ID', id);
      await tx.exec();
      // Back on a new connection (a read of the same slot makes the cluster client open it), so
      // the plain XADD would go through: only the drop having been counted makes it careful.
      await waitFor(
        'the engine connected to the master again',
        async () => {
          try {
            return (await e.store.getMeta(meta.id)) !== null && String(await node.client('LIST')).includes(` name=${name} `);
          } catch {
            return false;
          }
        },
        10_000,
      );
      // The writer's idea of the newest offset (6) is wrong now: refused, never written as 7 after a gap.
      expect(await appendAfterLoss(e, meta.id, fence, 6)).toBeInstanceOf(OffsetMismatchError);
      expect((await node.xrange(events, '-', '+')).map(([eid]) => eid)).toEqual([1, 2, 3, 4].map((k) => `${k}-${fence}`));
    } finally {
      node.disconnect();
    }
  });
});
afterAll(async () => {
  for (const e of writerEngines) await e.close();
});

describe('redis cluster: the doorbell (sharded pub/sub channels)', () => {
  /** An engine with one doorbell shard, a tail following one claimed generation, and what it got. */
  /** blockMs: how often each shard subscription's watchdog PINGs and checks the slot's master. */
  async function following(name: string, blockMs = 500) {
    const c = need();
    const prefix = await crossNodePrefix(c);
    const e = createRedisEngine({ url: c.url, cluster: true, prefix, name, clusterBells: 1, blockMs, watchdogMarginMs: 1_000, commandTimeoutMs: 5_000 });
    writerEngines.push(e);
    const meta = newMeta();
    await e.queue.enqueue(meta);
    const fence = (await e.store.claim(meta.id, 'p1'))?.fence as number;
    const got: number[] = [];
    const tail = e.store.openTail((_id, evs) => got.push(...evs.map((ev) => ev.offset)));
    tail.add(meta.id, 0);
    const bell = new Keys(prefix).bellShard(0);
    const subscribers = async (port: number) => Number(((await c.node(port).call('PUBSUB', 'SHARDNUMSUB', bell)) as [string, number])[1]);
    await waitFor('the tail subscribed to its shard', async () => (await subscribers(await c.masterOf(bell))) === 1, 10_000);
    /** CLIENT LIST ids of the tail's subscriptions to the shard, on the shard's master. */
    const subscriptionIds = async () =>
      String(await c.node(await c.masterOf(bell)).client('LIST'))
        .split('\n')
        .filter((line) => line.includes(` name=${name}:tail:bell:0 `))
        .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string);
    return { c, e, meta, fence, got, tail, bell, subscribers, subscriptionIds, events: `${prefix}:{${meta.id}}:events` };
  }

  it('an event written without a ring waits until a ring number is skipped, then the sweep finds it; rung events are delivered from the ring', async () => {
    const { c, e, meta, fence, got, tail, bell, events } = await following(`tokencast:cluster-bell-${++n}`);
    try {
      await e.store.append(meta.id, fence, 0, [tok('one')]);
      await waitFor('got [1]', () => got.length === 1, 5_000, 10);
      // Written behind the writers' backs (no ring): rings that number on say nothing about it.
      const eventsNode = c.node(await c.masterOf(events));
      const bellNode = c.node(await c.masterOf(bell));
      await eventsNode.xadd(events, `2-${fence}`, 't:11', ' two');
      const ring = (n: number, e: unknown[] = []) => bellNode.call('SPUBLISH', bell, JSON.stringify({ w: 'test-writer', n, e, g: [] }));
      await ring(1);
      await ring(2);
      await sleep(300);
      expect(got).toEqual([1]);
      // Ring 3 never came: the tail reads every followed stream.
      await ring(4);
      await waitFor('got [1, 2]', () => got.length === 2, 5_000, 10);
      // A ring carrying the next event delivers it; one whose event does not follow makes the tail read.
      await eventsNode.xadd(events, `3-${fence}`, 't:12', ' three');
      await ring(5, [[meta.id, 3, 't:12', ' three']]);
      await waitFor('got [1, 2, 3]', () => got.length === 3, 5_000, 10);
      await eventsNode.xadd(events, `4-${fence}`, 't:13', ' four');
      await eventsNode.xadd(events, `5-${fence}`, 't:14', ' five');
      await ring(6, [[meta.id, 5, 't:14', ' five']]);
      await waitFor('got [1 … 5]', () => got.length === 5, 5_000, 10);
      expect(got).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await tail.close();
    }
  });

  it('a killed shard subscription is made again, and its sweep delivers what was written meanwhile', async () => {
    const name = `tokencast:cluster-bell-kill-${++n}`;
    const { c, e, meta, fence, got, tail, bell, subscriptionIds } = await following(name);
    try {
      const bellNode = c.node(await c.masterOf(bell));
      for (let k = 0; k < 5; k++) {
        const ids = await subscriptionIds();
        expect(ids).toHaveLength(1);
        // Killed, and an append lands while it is away: its ring reaches nobody.
        await bellNode.client('KILL', 'ID', ids[0] as string);
        await e.store.append(meta.id, fence, k, [tok(String(k))]);
        await waitFor(`got ${k + 1}`, () => got.length === k + 1, 10_000, 10);
      }
      expect(got).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await tail.close();
    }
  });

  it('a healthy shard subscription is kept: its PINGs are answered, so the watchdog leaves it alone', async () => {
    const { tail, subscriptionIds } = await following(`tokencast:cluster-bell-kept-${++n}`);
    try {
      const before = await subscriptionIds();
      expect(before).toHaveLength(1);
      await sleep(2_000); // four watchdog checks (blockMs 500), each a PING and a slot check
      expect(await subscriptionIds()).toEqual(before);
    } finally {
      await tail.close();
    }
  });

  it('PITFALLS "a connection can wedge open and silent": a shard subscription whose PING goes unanswered past the margin is made again, and its sweep delivers what was written meanwhile', async () => {
    const name = `tokencast:cluster-bell-wedged-${++n}`;
    const { c, e, meta, fence, got, tail, bell, subscriptionIds } = await following(name);
    const bellNode = c.node(await c.masterOf(bell));
    try {
      await e.store.append(meta.id, fence, 0, [tok('a')]);
      await waitFor('got [1]', () => got.length === 1, 5_000, 10);
      const before = await subscriptionIds();
      expect(before).toHaveLength(1);
      // The shard's master answers nothing for 2.5 s (the connection stays open): longer than a
      // check interval (500 ms) plus the margin (1 s). A ring sent meanwhile waits behind the pause.
      await bellNode.call('CLIENT', 'PAUSE', '2500', 'ALL');
      await e.store.append(meta.id, fence, 1, [tok('b')]);
      await waitFor('got [1, 2]', () => got.length === 2, 10_000, 10);
      const after = await subscriptionIds();
      expect(after).toHaveLength(1);
      // Replaced, not waited out: the silent subscription was given up while the master was paused.
      expect(after[0]).not.toBe(before[0]);
      expect(got).toEqual([1, 2]);
    } finally {
      await tail.close();
    }
  });

  it('a generation added as unwritten is read only while a shard is not subscribed: with every shard live, its events come by the rings', async () => {
    const { e, got, tail, meta: followed, fence: followedFence } = await following(`tokencast:cluster-unwritten-${++n}`);
    /** A generation enqueued, claimed and given its first event: written, whatever add() is told. */
    const written = async () => {
      const meta = newMeta();
      await e.queue.enqueue(meta);
      const fence = (await e.store.claim(meta.id, 'p1'))?.fence as number;
      await e.store.append(meta.id, fence, 0, [tok('one')]);
      return { meta, fence };
    };
    try {
      // A tail that follows nothing has no shard subscription yet: an unwritten add is read at once.
      const early = await written();
      const earlyGot: number[] = [];
      const other = e.store.openTail((_id, evs) => earlyGot.push(...evs.map((ev) => ev.offset)));
      try {
        other.add(early.meta.id, 0, true);
        await waitFor('the early generation was read', () => earlyGot.length === 1, 5_000, 10);
      } finally {
        await other.close();
      }
      // `tail`'s one shard is live once the followed generation's event came by its ring.
      await e.store.append(followed.id, followedFence, 0, [tok('a')]);
      await waitFor('the followed generation got [1]', () => got.length === 1, 5_000, 10);
      // Written behind its back, then added as if it could not have been: nothing is read …
      const late = await written();
      await sleep(200); // its ring has gone by
      tail.add(late.meta.id, 0, true);
      await sleep(300);
      expect(got).toEqual([1]);
      // … until its next event's ring, which does not follow the cursor, makes the tail read it.
      await e.store.append(late.meta.id, late.fence, 1, [tok('two')]);
      await waitFor('the late generation was read', () => got.length === 3, 5_000, 10);
      expect(got).toEqual([1, 1, 2]);
    } finally {
      await tail.close();
    }
  });

  /**
   * One event followed; the bell's slot moved to another master; the tail must be subscribed there
   * within `within` ms, gone from the old one, and get `more` events written after.
   */
  async function followsSlotMove(name: string, blockMs: number, within: number, more: number): Promise<void> {
    const { c, e, meta, fence, got, tail, bell, subscribers } = await following(name, blockMs);
    try {
      await e.store.append(meta.id, fence, 0, [tok('a')]);
      await waitFor('got [1]', () => got.length === 1, 5_000, 10);
      const from = await c.masterOf(bell);
      const to = c.ports.find((p) => p !== from) as number;
      await moveSlot(c, keySlot(bell), from, to);
      await waitFor('subscribed on the new master', async () => (await subscribers(to)) === 1, within);
      expect(await subscribers(from)).toBe(0);
      let last = 1;
      for (let k = 0; k < more; k++) {
        last = (await e.store.append(meta.id, fence, last, [tok(String(k))])).lastOffset;
        await waitFor(`got ${last}`, () => got.length === last, 5_000, 10);
      }
      expect(got).toEqual(Array.from({ length: more + 1 }, (_, i) => i + 1));
    } finally {
      await tail.close();
    }
  }

  it("follows its shard's slot to another master: subscribed there, and live events keep coming", async () => {
    await followsSlotMove(`tokencast:cluster-bell-move-${++n}`, 500, 15_000, 5);
  });

  it('the SUNSUBSCRIBE a master sends when it gives the slot away moves the subscription at once, long before its watchdog looks', async () => {
    // The watchdog (a PING and a slot check) runs once a minute here: only the server's own
    // SUNSUBSCRIBE, which ioredis reports as an error on the connection, can move it in time.
    await followsSlotMove(`tokencast:cluster-bell-sunsub-${++n}`, 60_000, 5_000, 1);
  });
});

describe('redis cluster specifics', () => {
  it('computes the slot Redis computes, and a generation keeps all its keys in one slot', async () => {
    const c = need();
    const keys = new Keys('tc');
    const samples = ['tc:queue', 'tc:recent', 'tc:bell', new Keys('tc').bellShard(3), 'a', '', '{}x', '{a}{b}', 'foo{bar}baz', 'é🙂{ü}', '{user1000}.following'];
    for (let i = 0; i < 20; i++) {
      const id = newGenerationId();
      samples.push(keys.events(id), keys.meta(id));
      expect(keySlot(keys.events(id))).toBe(keySlot(keys.meta(id)));
    }
    for (const key of samples) expect(keySlot(key), key).toBe(await c.keySlot(key));
    // keySlot is ioredis' own (the cluster-key-slot package), so the engine groups keys exactly
    // as ioredis routes them. That package parts from Redis on a key whose first tag is empty
    // and which has a second one ('x{}y{z}'): no key tokencast builds has more than its one tag.
  });

  it('really is a cluster: one XREAD over two generations of different slots is refused', async () => {
    const c = need();
    const keys = new Keys('tc');
    const a = keys.events(newGenerationId());
    let b = keys.events(newGenerationId());
    while (keySlot(b) === keySlot(a)) b = keys.events(newGenerationId());
    await expect(c.node(c.ports[0] as number).call('XREAD', 'STREAMS', a, b, '0', '0')).rejects.toThrow(/CROSSSLOT/);
  });

  it('the engine built from the environment (REDIS_CLUSTER=true) serves a generation end to end', async () => {
    const c = need();
    const engine = createEngine(engineConfig({ REDIS_URL: c.url, REDIS_CLUSTER: 'true', TOKENCAST_KEY_PREFIX: await crossNodePrefix(c) }), 'tokencast:test');
    try {
      await engine.ping();
      const meta = newMeta();
      await engine.queue.enqueue(meta);
      const [job] = await engine.queue.take('p', 1, 1_000);
      expect(job?.generationId).toBe(meta.id);
      const claim = await engine.store.claim(meta.id, 'p');
      await engine.store.append(meta.id, claim?.fence as number, 0, [tok('hi'), end()]);
      await engine.queue.ack(job?.jobId as string);
      expect((await engine.store.getMeta(meta.id))?.status).toBe('completed');
      expect((await engine.queue.stats()).pending).toBe(0);
    } finally {
      await engine.close();
    }
  });

  it('one tail follows generations on every master, written concurrently, in order and exactly once', async () => {
    const c = need();
    const engine = createRedisEngine({ url: c.url, cluster: true, prefix: await crossNodePrefix(c) });
    const got = new Map<string, StoredEvent[]>();
    const tail = engine.store.openTail((id, evs) => got.set(id, [...(got.get(id) ?? []), ...evs]));
    try {
      // 45 generations, 15 on each master.
      const perMaster = new Map<number, string[]>(c.ports.map((p) => [p, []]));
      const keys = new Keys('x');
      while ([...perMaster.values()].some((l) => l.length < 15)) {
        const meta = newMeta();
        const list = perMaster.get(await c.masterOf(keys.events(meta.id))) as string[];
        if (list.length >= 15) continue;
        list.push(meta.id);
        await engine.queue.enqueue(meta);
      }
      const ids = [...perMaster.values()].flat();
      const fences = new Map<string, number>();
      for (const id of ids) fences.set(id, (await engine.store.claim(id, 'p1'))?.fence as number);
      for (const id of ids) tail.add(id, 0);

      const total = 30;
      // One writer per generation, all at once, with uneven batches and pauses.
      await Promise.all(
        ids.map(async (id, g) => {
          let last = 0;
          while (last < total) {
            const size = Math.min(1 + ((g + last) % 4), total - last);
            const batch: NewEvent[] = Array.from({ length: size }, (_, i) => tok(`${id}:${last + i + 1};`));
            if (last + size === total) batch[size - 1] = end();
            last = (await engine.store.append(id, fences.get(id) as number, last, batch)).lastOffset;
            if (g % 5 === 0) await sleep(5);
          }
        }),
      );
      const complete = () => ids.every((id) => (got.get(id)?.length ?? 0) >= total);
      await waitFor('complete', complete, 15_000, 10);
      await sleep(200);
      for (const id of ids) {
        const evs = got.get(id) ?? [];
        expect(
          evs.map((e) => e.offset),
          id,
        ).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        expect(
          evs
            .slice(0, -1)
            .map((e) => (e.kind === 'token' ? e.text : ''))
            .join(''),
        ).toBe(Array.from({ length: total - 1 }, (_, i) => `${id}:${i + 1};`).join(''));
        expect(evs[total - 1]?.kind).toBe('end');
      }
      expect(tail.size).toBe(0);
    } finally {
      await tail.close();
      await engine.close();
    }
  });

  it('keeps following a generation whose slot moves to another master mid-stream', async () => {
    const c = need();
    const engine = createRedisEngine({ url: c.url, cluster: true, prefix: await crossNodePrefix(c), clusterBells: 2 });
    const got: number[] = [];
    const tail = engine.store.openTail((_id, evs) => got.push(...evs.map((e) => e.offset)));
    try {
      const meta = newMeta();
      await engine.queue.enqueue(meta);
      const fence = (await engine.store.claim(meta.id, 'p1'))?.fence as number;
      tail.add(meta.id, 0);
      await engine.store.append(meta.id, fence, 0, [tok('a'), tok('b')]);
      await waitFor('got.length === 2', () => got.length === 2, 5_000, 10);

      const keys = new Keys('x');
      const slot = keySlot(keys.events(meta.id));
      const from = await c.masterOf(keys.events(meta.id));
      const to = c.ports.find((p) => p !== from) as number;
      await moveSlot(c, slot, from, to);
      expect(await c.masterOf(keys.events(meta.id))).toBe(to);

      // Written after the move: the tail must read them from the new master.
      let last = 2;
      for (let i = 0; i < 5; i++) last = (await engine.store.append(meta.id, fence, last, [tok(`${i}`)])).lastOffset;
      await engine.store.append(meta.id, fence, last, [end()]);
      await waitFor('got.length === 8', () => got.length === 8, 10_000, 10);
      await sleep(100);
      expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(tail.size).toBe(0);
    } finally {
      await tail.close();
      await engine.close();
    }
  });
});

/** Live-migrate one slot and its keys from one master to another (what resharding does). */
async function moveSlot(c: TestRedisCluster, slot: number, fromPort: number, toPort: number): Promise<void> {
  const src = c.node(fromPort);
  const dst = c.node(toPort);
  const srcId = String(await src.cluster('MYID'));
  const dstId = String(await dst.cluster('MYID'));
  await dst.cluster('SETSLOT', slot, 'IMPORTING', srcId);
  await src.cluster('SETSLOT', slot, 'MIGRATING', dstId);
  for (;;) {
    const keys = (await src.cluster('GETKEYSINSLOT', slot, 100)) as string[];
    if (keys.length === 0) break;
    await src.migrate('127.0.0.1', toPort, '', 0, 5_000, 'KEYS', ...keys);
  }
  for (const port of [toPort, fromPort, ...c.ports.filter((p) => p !== fromPort && p !== toPort)]) await c.node(port).cluster('SETSLOT', slot, 'NODE', dstId);
}
