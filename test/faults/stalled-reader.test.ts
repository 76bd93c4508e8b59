import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBEDDED_MAIN, type Proc, startProcess } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { readSse } from '../support/sse.js';

/**
 * PITFALLS "`res.write()` returning false is the backpressure signal": viewers that stop reading
 * a large generation must not make the edge buffer it for them. The edge pauses them (the
 * store is the buffer), drops them after STALL_TIMEOUT_MS (they may resume), and a reader of
 * the same generation that does read is not held back.
 */
const STALLED = 20;
const STALL_MS = 2_000;

interface Stats {
  sinks: number;
  channels: number;
  heapUsed: number;
  gc: boolean;
}

let redis: RedisServer;
let edge: Proc;

beforeAll(async () => {
  redis = await startRedisServer();
  edge = await startProcess(
    EMBEDDED_MAIN,
    {
      REDIS_URL: redis.url,
      TOKENCAST_KEY_PREFIX: 'stall',
      EDGE_DEBUG_STATS: '1',
      EDGE_CHANNEL_LINGER_MS: '100',
      STALL_TIMEOUT_MS: String(STALL_MS),
      MOCK_TOKENS_PER_SECOND: '1000000',
      MOCK_TTFT_MS: '1',
      MAX_TOKENS_CAP: '2000000',
      LOG_LEVEL: 'warn',
    },
    [],
    { nodeArgs: ['--expose-gc'] },
  );
});

afterAll(async () => {
  await edge?.kill();
  await redis?.stop();
});

const stats = async (gc = false): Promise<Stats> => (await (await fetch(`${edge.url}/debug/stats${gc ? '?gc=1' : ''}`)).json()) as Stats;

/** A viewer that sends its request and then never reads a byte. */
function stalledViewer(id: string): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect(edge.port, '127.0.0.1', () => {
      s.write(`GET /v1/generations/${id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
      s.pause();
      resolve(s);
    });
    s.on('error', () => {});
  });
}

describe('viewers that stop reading', () => {
  it(`PITFALLS "res.write() returning false is the backpressure signal": ${STALLED} stalled viewers of a ~7 MB generation cost far less than 7 MB each, are dropped after STALL_TIMEOUT_MS, and hold nobody back`, async () => {
    const res = await fetch(`${edge.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: '[mock:len=1000000] a long answer' }] }),
    });
    const { id } = (await res.json()) as { id: string };
    for (let i = 0; ((await (await fetch(`${edge.url}/v1/generations/${id}`)).json()) as { status: string }).status !== 'completed'; i++) {
      if (i > 300) throw new Error('the generation did not complete within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const base = await stats(true);

    const sockets = await Promise.all(Array.from({ length: STALLED }, () => stalledViewer(id)));
    // A reader of the same generation, meanwhile, reads it all at its own pace.
    const t0 = Date.now();
    const reader = await readSse(`${edge.url}/v1/generations/${id}/events`);
    const readerMs = Date.now() - t0;
    const size = reader.text.length;
    expect(reader.done).toBe(true);
    // What the edge retains with every stalled viewer still attached (collected first: the
    // reader's own garbage is not retained memory, and GC timing differs between Node versions).
    const peak = await stats(true);
    expect(peak.sinks).toBeGreaterThan(0); // on a loaded machine a few may already be dropped
    const deadline = Date.now() + STALL_MS + 8_000;
    let cur = peak;
    while (cur.sinks > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      cur = await stats();
    }
    const droppedAfter = Date.now() - t0;
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 500));
    const after = await stats(true);
    const mb = (b: number) => (b / 2 ** 20).toFixed(1);
    console.log(
      `stalled viewers: ${STALLED} × ${mb(size)} MB generation; heap ${mb(base.heapUsed)} → peak ${mb(peak.heapUsed)} → ${mb(after.heapUsed)} MB; all dropped within ${droppedAfter} ms; the reading viewer took ${readerMs} ms`,
    );
    // Unbounded buffering would hold the whole stream once per stalled viewer.
    expect(peak.heapUsed - base.heapUsed).toBeLessThan((STALLED * size) / 2);
    expect(cur.sinks).toBe(0);
    expect(droppedAfter).toBeLessThan(STALL_MS + 8_000);
    expect(after.heapUsed - base.heapUsed).toBeLessThan(10 * 2 ** 20);

    // A dropped viewer comes back with its Last-Event-ID and gets exactly the rest.
    const back = await readSse(`${edge.url}/v1/generations/${id}/events`, { headers: { 'last-event-id': '10' } });
    expect(back.ids[0]).toBe(11);
    expect(reader.text.endsWith(back.text)).toBe(true);
  }, 60_000);
});
