import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../support/cluster.js';
import { readSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';
import { info, type Submitted, statuses, submit, unfinished } from './gen.js';
import { dense, type Watcher, watch } from './watch.js';

/**
 * Producers that die or are stopped mid-generation. A job stays pending in the queue until its
 * generation has ended, so another producer reclaims it once it has been silent RECLAIM_IDLE_MS;
 * the fence taken on claim keeps the old writer out. RECLAIM_POLICY says what the new owner does
 * with a generation that already has events: continue it (default) or end it with an error.
 */
const RECLAIM_IDLE_MS = 1_500;
const GRACE_MS = 4_000;

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    edges: 2,
    producers: 2,
    producerEnv: { RECLAIM_IDLE_MS: String(RECLAIM_IDLE_MS), MOCK_TOKENS_PER_SECOND: '100', SHUTDOWN_GRACE_MS: String(GRACE_MS) },
  });
});

afterAll(async () => {
  await cluster?.stop();
});

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(`cluster logs: ${cluster.dumpLogs()}`);
});

// A test that failed half-way must not leave the next one with a producer short.
beforeEach(async () => {
  for (const [i, p] of cluster.producers.entries()) if (p.child.exitCode !== null || p.child.signalCode !== null) await cluster.restartProducer(i);
});

/** Submit, wait until a producer has published `events` events, and say which producer it is. */
async function runningOn(gen: Submitted, events: number): Promise<number> {
  let owner = -1;
  await waitFor(`${gen.id} running with ${events} events`, async () => {
    const m = await info(cluster.url, gen.id);
    owner = cluster.producerIndex(m.producer);
    return m.status === 'running' && m.last_offset >= events;
  });
  expect(owner).toBeGreaterThanOrEqual(0);
  return owner;
}

function expectWhole(w: Watcher, lastOffset: number, text: string): void {
  expect(w.done).toBe(true);
  expect(w.error).toBeNull();
  expect(w.ids).toEqual(dense(lastOffset));
  expect(w.text).toBe(text);
}

describe('producers that crash or stop', () => {
  it('kill -9 of the producer mid-generation: another reclaims it and continues the exact text (RECLAIM_POLICY=continue, the default)', async () => {
    const gen = await submit(cluster.url, 'the producer dies, the text goes on [mock:len=400]');
    const w = watch(gen.eventsUrl, { timeoutMs: 45_000 });
    const owner = await runningOn(gen, 20);
    const deadName = cluster.producerNames[owner];
    await cluster.killProducer(owner, 'SIGKILL');
    await w.finished;
    const meta = await info(cluster.url, gen.id);
    expect(meta.status).toBe('completed');
    expect(meta.producer).not.toBe(deadName);
    expect(cluster.producerIndex(meta.producer)).toBe(1 - owner);
    expect(meta.tokens).toBe(gen.reference.tokens);
    expectWhole(w, meta.last_offset, gen.reference.text);
    // The survivor took the silent producer's job over and went on from the published offset.
    const survivor = cluster.producers[1 - owner]?.logs() ?? '';
    expect(survivor).toMatch(new RegExp(`"gen":"${gen.id}"[^\n]*"reclaimed a job from a silent producer"`));
    expect(survivor).toMatch(new RegExp(`"gen":"${gen.id}"[^\n]*"continuing a reclaimed generation"`));
    // A viewer arriving afterwards reads the same from the store.
    const late = await readSse(gen.eventsUrl);
    expect(late.ids).toEqual(dense(meta.last_offset));
    expect(late.text).toBe(gen.reference.text);
    await cluster.restartProducer(owner);
  }, 60_000);

  it('with RECLAIM_POLICY=fail the reclaimed generation ends with a failed end event instead', async () => {
    await Promise.all([0, 1].map((i) => cluster.restartProducer(i, { RECLAIM_POLICY: 'fail' })));
    const gen = await submit(cluster.url, 'the producer dies, the generation fails [mock:len=400]');
    const w = watch(gen.eventsUrl, { timeoutMs: 45_000 });
    const owner = await runningOn(gen, 20);
    await cluster.killProducer(owner, 'SIGKILL');
    await w.finished;
    const meta = await info(cluster.url, gen.id);
    expect(meta.status).toBe('failed');
    expect(meta.error?.code).toBe('producer_lost');
    expect(w.done).toBe(true);
    expect(w.error?.code).toBe('producer_lost');
    expect(w.ids).toEqual(dense(meta.last_offset));
    // What was published before the crash stays, and is a prefix of the reference.
    expect(w.text.length).toBeGreaterThan(0);
    expect(gen.reference.text.startsWith(w.text)).toBe(true);
    expect(w.text.length).toBeLessThan(gen.reference.text.length);
    await Promise.all([0, 1].map((i) => cluster.restartProducer(i)));
  }, 60_000);

  it('SIGTERM: the producer takes no new job and finishes the one it runs within its grace period', async () => {
    const gen = await submit(cluster.url, 'finish before leaving [mock:len=250]');
    const w = watch(gen.eventsUrl, { timeoutMs: 30_000 });
    const owner = await runningOn(gen, 5);
    const name = cluster.producerNames[owner];
    const proc = cluster.producers[owner];
    if (!proc) throw new Error('no producer');
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    await waitFor('the producer draining', () => proc.logs().includes('"draining"'));
    // Submitted while it drains: only the other producer may take it.
    const other = await submit(cluster.url, 'taken by the other producer [mock:len=20]');
    const wo = watch(other.eventsUrl, { timeoutMs: 30_000 });
    expect(await proc.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(GRACE_MS + 1_000);
    await Promise.all([w.finished, wo.finished]);
    const meta = await info(cluster.url, gen.id);
    expect(meta.status).toBe('completed');
    expect(meta.producer).toBe(name);
    expectWhole(w, meta.last_offset, gen.reference.text);
    const otherMeta = await info(cluster.url, other.id);
    expect(otherMeta.producer).toBe(cluster.producerNames[1 - owner]);
    expectWhole(wo, otherMeta.last_offset, other.reference.text);
    await cluster.restartProducer(owner);
  }, 60_000);

  it('SIGTERM: a job that does not finish within the grace is handed back unacknowledged and continued by another producer', async () => {
    const gen = await submit(cluster.url, 'too long to finish before leaving [mock:len=700]');
    const w = watch(gen.eventsUrl, { timeoutMs: 45_000 });
    const owner = await runningOn(gen, 5);
    const name = cluster.producerNames[owner];
    const proc = cluster.producers[owner];
    if (!proc) throw new Error('no producer');
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(GRACE_MS + 1_000);
    expect(await proc.waitForLog('handing the generation back on shutdown')).toContain('handing the generation back on shutdown');
    // Handed back, not acknowledged: the job is still pending until the other producer ends it.
    const c = cluster.redis.client();
    const pending = (await c.xpending('tc:queue', 'producers')) as [number, ...unknown[]];
    expect(pending[0]).toBeGreaterThanOrEqual(1);
    await w.finished;
    const meta = await info(cluster.url, gen.id);
    expect(meta.status).toBe('completed');
    expect(meta.producer).not.toBe(name);
    expectWhole(w, meta.last_offset, gen.reference.text);
    await cluster.restartProducer(owner);
  }, 60_000);

  it('leaves no generation queued or running, and no job pending', async () => {
    const c = cluster.redis.client();
    await waitFor('every generation terminal', async () => unfinished(await statuses(c)).length === 0, 10_000);
    // Acks go out in batches, within RedisJobQueue's ACK_BATCH_MS.
    await waitFor('no job pending', async () => ((await c.xpending('tc:queue', 'producers')) as [number, ...unknown[]])[0] === 0, 5_000);
  }, 30_000);
});
