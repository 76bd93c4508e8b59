import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../support/cluster.js';
import { readSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';
import { info, statuses, submit, unfinished } from './gen.js';
import { dense, type Watcher, watch } from './watch.js';

/**
 * Edges behind nginx: many viewers spread over them, an edge killed under its viewers, an edge
 * drained by SIGTERM (a rolling restart). The claim each time: every viewer receives every event
 * of the generation exactly once, in order, whichever edges served it.
 */
const DRAIN_DELAY_MS = 2_000;
const GRACE_MS = 6_000;

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    edges: 3,
    producers: 2,
    edgeEnv: { DRAIN_DELAY_MS: String(DRAIN_DELAY_MS), SHUTDOWN_GRACE_MS: String(GRACE_MS) },
    producerEnv: { MOCK_TOKENS_PER_SECOND: '100' },
  });
});

afterAll(async () => {
  await cluster?.stop();
});

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(`cluster logs: ${cluster.dumpLogs()}`);
});

// A test that failed half-way must not leave the next one with an edge short.
beforeEach(async () => {
  for (const [i, p] of cluster.edges.entries()) if (p.child.exitCode !== null || p.child.signalCode !== null) await cluster.restartEdge(i);
});

/** Every viewer got the whole generation: ids 1 … last offset, once each, and the reference text. */
async function expectExact(ws: Watcher[], id: string, text: string): Promise<void> {
  const meta = await info(cluster.url, id);
  expect(meta.status).toBe('completed');
  for (const w of ws) {
    expect(w.done).toBe(true);
    expect(w.error).toBeNull();
    expect(w.ids).toEqual(dense(meta.last_offset));
    expect(w.text).toBe(text);
  }
}

const lastEdge = (w: Watcher) => cluster.edgeIndex(w.connections.at(-1)?.edge ?? null);

describe('edges behind nginx', () => {
  it('50 viewers of one generation, spread over the 3 edges, receive identical streams', async () => {
    const gen = await submit(cluster.url, 'fan out over the edges [mock:len=250]');
    const all = await Promise.all(Array.from({ length: 50 }, () => readSse(gen.eventsUrl)));
    const meta = await info(cluster.url, gen.id);
    const served = new Map<number, number>();
    for (const r of all) {
      expect(r.status).toBe(200);
      expect(r.done).toBe(true);
      expect(r.ids).toEqual(dense(meta.last_offset));
      expect(r.text).toBe(gen.reference.text);
      // Byte for byte the same events (ids, chunks, end, usage), whichever edge sent them.
      expect(r.events.map((e) => [e.id, e.data])).toEqual(all[0]?.events.map((e) => [e.id, e.data]));
      const edge = cluster.edgeIndex(r.headers.get('x-tokencast-edge'));
      expect(edge).toBeGreaterThanOrEqual(0);
      served.set(edge, (served.get(edge) ?? 0) + 1);
    }
    // least_conn spreads 50 concurrent streams over every edge.
    expect([...served.keys()].sort()).toEqual([0, 1, 2]);
    // nginx's own record agrees: each of those requests went to an edge of the cluster.
    const logged = cluster.nginx.accessLog().filter((l) => l.uri === `/v1/generations/${gen.id}/events`);
    expect(logged).toHaveLength(50);
    expect(new Set(logged.map((l) => cluster.edgeIndex(l.upstream))).size).toBe(3);
  }, 60_000);

  it('kill -9 of the edge under a viewer: it reconnects through nginx to another edge and gets exactly the rest', async () => {
    const gen = await submit(cluster.url, 'an edge dies under its viewers [mock:len=500]');
    const ws = Array.from({ length: 9 }, () => watch(gen.eventsUrl, { timeoutMs: 45_000 }));
    await waitFor('every viewer past event 20', () => ws.every((w) => w.ids.length >= 20));
    const victim = lastEdge(ws[0] as Watcher);
    expect(victim).toBeGreaterThanOrEqual(0);
    const onVictim = ws.filter((w) => lastEdge(w) === victim);
    const seenBefore = onVictim.map((w) => w.ids.at(-1) as number);
    await cluster.killEdge(victim, 'SIGKILL');
    await Promise.all(ws.map((w) => w.finished));
    await expectExact(ws, gen.id, gen.reference.text);
    for (const [k, w] of onVictim.entries()) {
      // The next connection asked to resume after at least what it had seen, from another edge.
      const next = w.connections[1];
      expect(next?.status).toBe(200);
      expect(Number(next?.lastEventId)).toBeGreaterThanOrEqual(seenBefore[k] as number);
      expect(cluster.edgeIndex(next?.edge ?? null)).not.toBe(victim);
      expect(cluster.edgeIndex(next?.edge ?? null)).toBeGreaterThanOrEqual(0);
    }
    await cluster.restartEdge(victim);
  }, 60_000);

  it('SIGTERM drains an edge: /readyz 503, viewers told to reconnect, exit within the grace, nothing lost or repeated', async () => {
    const gen = await submit(cluster.url, 'a rolling restart [mock:len=600]');
    const ws = Array.from({ length: 9 }, () => watch(gen.eventsUrl, { timeoutMs: 45_000 }));
    await waitFor('every viewer past event 20', () => ws.every((w) => w.ids.length >= 20));
    const i = lastEdge(ws[0] as Watcher);
    const edge = cluster.edges[i];
    if (!edge) throw new Error(`no edge ${i}`);
    const onIt = ws.filter((w) => lastEdge(w) === i);
    // One viewer straight on that edge (its headers are in: it is attached), to see the redirect on the wire.
    const directRes = await fetch(`${edge.url}/v1/generations/${gen.id}/events`);
    const directBody = directRes.text();

    const t0 = Date.now();
    edge.child.kill('SIGTERM');
    // Draining: not ready, so balancers that poll readiness stop sending traffic.
    let ready: { status: number; code?: string } = { status: 0 };
    await waitFor(
      '/readyz 503 while draining',
      async () => {
        const r = await fetch(`${edge.url}/readyz`);
        ready = { status: r.status, code: ((await r.json()) as { error?: { code: string } }).error?.code };
        return r.status === 503;
      },
      DRAIN_DELAY_MS,
      20,
    );
    expect(ready).toEqual({ status: 503, code: 'draining' });

    const code = await edge.exited;
    const took = Date.now() - t0;
    expect(code).toBe(0);
    expect(took).toBeGreaterThanOrEqual(DRAIN_DELAY_MS - 100);
    expect(took).toBeLessThan(GRACE_MS);
    // The direct viewer's response ended cleanly with the reconnect hint.
    expect(directRes.status).toBe(200);
    expect(await directBody).toMatch(/\nretry: \d+\n\n$/);

    // New streams go to the other edges now.
    const late = await Promise.all(Array.from({ length: 6 }, () => readSse(gen.eventsUrl, { stopAfter: 1 })));
    for (const r of late) {
      expect(r.status).toBe(200);
      expect(cluster.edgeIndex(r.headers.get('x-tokencast-edge'))).not.toBe(i);
    }

    await Promise.all(ws.map((w) => w.finished));
    await expectExact(ws, gen.id, gen.reference.text);
    expect(onIt.length).toBeGreaterThan(0);
    for (const w of onIt) {
      expect(w.connections.length).toBeGreaterThanOrEqual(2);
      expect(cluster.edgeIndex(w.connections[1]?.edge ?? null)).not.toBe(i);
    }
    await cluster.restartEdge(i);
  }, 60_000);

  it('leaves no generation queued or running', async () => {
    const c = cluster.redis.client();
    await waitFor('every generation terminal', async () => unfinished(await statuses(c)).length === 0, 10_000);
  });
});
