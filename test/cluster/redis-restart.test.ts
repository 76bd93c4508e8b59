import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../support/cluster.js';
import { readSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';
import { info, statuses, submit, unfinished } from './gen.js';
import { dense, watch } from './watch.js';

/**
 * redis-server restarted under load. Persistent (AOF, fsync always): edges and producers
 * reconnect by themselves and every viewer still gets every event once. Empty (a cache restart):
 * viewers get a clear error, never a hang, and the cluster takes new work. While Redis is down
 * every edge says not ready. Every wait here is bounded.
 */
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    edges: 3,
    producers: 2,
    // A watched generation whose keys vanished is noticed after this much silence.
    edgeEnv: { EDGE_LIVENESS_CHECK_MS: '2000' },
    producerEnv: { MOCK_TOKENS_PER_SECOND: '100', RECLAIM_IDLE_MS: '5000' },
  });
});

afterAll(async () => {
  await cluster?.stop();
});

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(`cluster logs: ${cluster.dumpLogs()}`);
});

async function readiness(): Promise<number[]> {
  return Promise.all(cluster.edges.map(async (e) => (await fetch(`${e.url}/readyz`)).status));
}

describe('redis-server restarts', () => {
  it('persistent: edges and producers reconnect by themselves, /readyz is 503 meanwhile, viewers resume exactly', async () => {
    const gens = await Promise.all([0, 1, 2].map((k) => submit(cluster.url, `redis restarts under load ${k} [mock:len=500]`)));
    // reopenAfterMs: a viewer whose reconnect met a 503 opens again from its last id, as an app would.
    const ws = gens.map((g) => Array.from({ length: 4 }, () => watch(g.eventsUrl, { timeoutMs: 60_000, reopenAfterMs: 500 })));
    await waitFor('every viewer past event 20', () => ws.flat().every((w) => w.ids.length >= 20));

    await cluster.redis.kill();
    await waitFor('every edge not ready', async () => (await readiness()).every((s) => s === 503), 10_000, 100);
    const refused = await fetch(`${cluster.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'while redis is down' }] }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
    await new Promise((r) => setTimeout(r, 1_500));
    await cluster.redis.start();
    await waitFor('every edge ready again', async () => (await readiness()).every((s) => s === 200), 20_000, 100);

    await Promise.all(ws.flat().map((w) => w.finished));
    for (const [k, g] of gens.entries()) {
      const meta = await info(cluster.url, g.id);
      expect(meta.status).toBe('completed');
      for (const w of ws[k] ?? []) {
        expect(w.refused).toBeNull();
        expect(w.done).toBe(true);
        expect(w.error).toBeNull();
        expect(w.ids).toEqual(dense(meta.last_offset));
        expect(w.text).toBe(g.reference.text);
      }
    }
    // The queue works again: a new generation goes through.
    const after = await submit(cluster.url, 'after the restart [mock:len=30]');
    const r = await readSse(after.eventsUrl);
    expect(r.done).toBe(true);
    expect(r.text).toBe(after.reference.text);
    await waitFor('every generation terminal', async () => unfinished(await statuses(cluster.redis.client())).length === 0, 10_000);
  }, 90_000);

  it('empty (a cache restart): viewers get a clear error, not a hang, and new work goes through', async () => {
    const gen = await submit(cluster.url, 'redis comes back empty [mock:len=800]');
    const ws = Array.from({ length: 4 }, () => watch(gen.eventsUrl, { timeoutMs: 45_000, reopenAfterMs: 500 }));
    await waitFor('every viewer past event 20', () => ws.every((w) => w.ids.length >= 20));
    await cluster.redis.client().flushall();
    await cluster.redis.kill();
    await cluster.redis.start();
    await Promise.all(ws.map((w) => w.finished));
    for (const w of ws) {
      // Either the stream ended with an error payload, or a reconnect was answered 404: both say
      // "this generation is gone"; neither leaves the viewer waiting.
      const clear = w.error?.code === 'generation_lost' || w.error?.code === 'offset_gone' || w.refused === 404;
      expect(clear, JSON.stringify({ error: w.error, refused: w.refused, failures: w.failures })).toBe(true);
    }
    await waitFor('every edge ready', async () => (await readiness()).every((s) => s === 200), 20_000, 100);
    const after = await submit(cluster.url, 'after the empty restart [mock:len=30]');
    const r = await readSse(after.eventsUrl);
    expect(r.done).toBe(true);
    expect(r.ids).toEqual(dense((await info(cluster.url, after.id)).last_offset));
    expect(r.text).toBe(after.reference.text);
  }, 90_000);
});
