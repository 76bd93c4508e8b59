import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBEDDED_MAIN, type Proc, startProcess } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

interface Stats {
  sinks: number;
  channels: number;
  followed: number;
  handles: number;
  connections: number;
  heapUsed: number;
  gc: boolean;
}

const N = 10_000;

/**
 * "A client that disconnects leaves nothing behind": 10 000 viewers of a live generation connect
 * and drop; the edge's viewers, readers, handles (sockets, timers) and heap return to baseline.
 */
describe('disconnects release everything', () => {
  let redis: RedisServer;
  let edge: Proc;
  let id: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    edge = await startProcess(EMBEDDED_MAIN, { REDIS_URL: redis.url, EDGE_DEBUG_STATS: '1', EDGE_CHANNEL_LINGER_MS: '100', MOCK_TOKENS_PER_SECOND: '2', LOG_LEVEL: 'warn' }, [], {
      nodeArgs: ['--expose-gc'],
    });
    const res = await fetch(`${edge.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: '[mock:len=100000] stays live for the whole test' }] }),
    });
    id = ((await res.json()) as { id: string }).id;
  }, 60_000);

  afterAll(async () => {
    await edge?.kill();
    await redis?.stop();
  });

  const stats = async (gc = false): Promise<Stats> => (await (await fetch(`${edge.url}/debug/stats${gc ? '?gc=1' : ''}`)).json()) as Stats;

  /** The stats once `pred` holds, or the last seen after `ms`: the assertions that follow show the numbers. */
  async function until(pred: (s: Stats) => boolean, ms: number): Promise<Stats> {
    let last = await stats();
    await waitFor('edge stats', async () => pred((last = await stats())), ms, 100).catch(() => {});
    return last;
  }

  /** Viewers join at the head (Last-Event-ID = newest offset): this test is about their cost once connected, not replay. */
  const head = async (): Promise<number> => ((await (await fetch(`${edge.url}/v1/generations/${id}`)).json()) as { last_offset: number }).last_offset;

  function openViewer(port: number, from: number, attempt = 0): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write(`GET /v1/generations/${id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nLast-Event-ID: ${from}\r\n\r\n`);
        resolve(s);
      });
      // A connect refused while the accept queue is full is the load generator's problem, not
      // the edge's: try again (bounded).
      s.once('error', (err) => (attempt < 3 ? openViewer(port, from, attempt + 1).then(resolve, reject) : reject(err)));
      s.on('data', () => {}); // read, so the edge never sees a stalled viewer
    });
  }

  it(`returns to baseline after ${N} viewers connect and drop`, async () => {
    // Warm-up round: first-use allocations (JIT, pools) must not count as a leak.
    const h0 = await head();
    const warm = await Promise.all(Array.from({ length: 200 }, () => openViewer(edge.port, h0)));
    await until((s) => s.sinks === 200, 10_000);
    for (const s of warm) s.destroy();
    await until((s) => s.sinks === 0 && s.connections <= 2 && s.channels === 0, 10_000);
    const base = await stats(true);
    expect(base.gc).toBe(true);
    expect(base.sinks).toBe(0);

    const sockets: Socket[] = [];
    for (let i = 0; i < N; i += 500) {
      const from = await head();
      sockets.push(...(await Promise.all(Array.from({ length: Math.min(500, N - i) }, () => openViewer(edge.port, from)))));
    }
    const full = await until((s) => s.sinks === N, 60_000);
    expect(full.sinks).toBe(N);
    // One channel and one followed generation, whatever the number of viewers.
    expect(full.channels).toBe(1);
    expect(full.followed).toBe(1);

    for (const s of sockets) s.destroy();
    await until((s) => s.sinks === 0 && s.connections <= 2 && s.channels === 0 && s.followed === 0, 30_000);
    const after = await stats(true);
    console.log(
      `baseline handles=${base.handles} heap=${(base.heapUsed / 1e6).toFixed(1)}MB; with ${N}: heap=${(full.heapUsed / 1e6).toFixed(1)}MB; after: handles=${after.handles} heap=${(after.heapUsed / 1e6).toFixed(1)}MB`,
    );
    expect(after.sinks).toBe(0);
    // Only this test's own keep-alive connections (the stats requests) may remain, as at baseline.
    expect(after.connections).toBeLessThanOrEqual(Math.max(base.connections, 2));
    expect(after.channels).toBe(0);
    expect(after.followed).toBe(0);
    expect(after.handles).toBeLessThanOrEqual(base.handles + 2);
    // Heap back within 4 MB of the baseline (it held tens of MB with every viewer connected).
    expect(after.heapUsed).toBeLessThan(base.heapUsed + 4e6);
  }, 180_000);
});
