import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatBody, contiguous, meta, offsets, read, reference, submit, textOf } from '../integration/helpers.js';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { longestPause, readTimed } from './timed-read.js';

/**
 * The edge's live read path (its doorbell subscription, one per process on its own connection
 * named `…:tail`, which tells it what was written) and the producer's blocking queue read, under
 * the failures PITFALLS names: a connection that is killed (rings published meanwhile reach
 * nobody), one that is wedged (open, but nothing comes back: only the PING watchdog can tell),
 * and a command timeout far below BLOCK. Each time a viewer must get every event, once, in
 * order, on the response it opened.
 */
const BLOCK_MS = 1_000;
const MARGIN_MS = 1_000;

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.stop();
});

/** CLIENT LIST entries as {id, name, age}. */
async function clients(): Promise<{ id: string; name: string; age: number }[]> {
  const list = (await redis.client().client('LIST')) as string;
  return list
    .trim()
    .split('\n')
    .map((line) => {
      const f = Object.fromEntries(line.split(' ').map((kv) => kv.split('=') as [string, string]));
      return { id: f.id ?? '', name: f.name ?? '', age: Number(f.age ?? 0) };
    });
}

/** The edge's doorbell subscription, as CLIENT LIST names it (`<process role>:…:tail`). */
const isEdgeTail = (name: string) => name.startsWith('tokencast:edge:') && name.endsWith(':tail');

describe('the edge reader connection', () => {
  let edge: Proc;
  let producer: Proc;
  let proxy: TcpProxy;

  beforeAll(async () => {
    // The edge reaches Redis through a proxy that can wedge its connections; the producer directly.
    proxy = await startTcpProxy(redis.port);
    const env = { TOKENCAST_KEY_PREFIX: 'tail', REDIS_BLOCK_MS: String(BLOCK_MS), REDIS_WATCHDOG_MARGIN_MS: String(MARGIN_MS) };
    [edge, producer] = await Promise.all([startEdge({ ...env, REDIS_URL: proxy.url }), startProducer({ ...env, REDIS_URL: redis.url, MOCK_TOKENS_PER_SECOND: '100' })]);
  });

  afterAll(async () => {
    await Promise.all([edge?.kill(), producer?.kill()]);
    await proxy?.close();
  });

  it('PITFALLS "Never resume a reader from `$` after a reconnect": CLIENT KILL of the `…:tail` (doorbell) connection, ten times mid-stream, loses nothing appended while it was down', async () => {
    const body = chatBody('[mock:len=600] the reader connection keeps dying');
    const ref = reference(body);
    const id = await submit(edge.url, body);
    const reading = read(`${edge.url}/v1/generations/${id}/events`);
    await waitFor('20 events', async () => (await meta(edge.url, id)).last_offset >= 20, 10_000);
    const killed = new Set<string>();
    for (let k = 0; k < 10; k++) {
      const tail = await waitFor('a new tail connection', async () => (await clients()).find((c) => isEdgeTail(c.name) && !killed.has(c.id)), 5_000);
      killed.add(tail.id);
      // By id: exactly the reader, nothing else of the edge's.
      await redis.client().client('KILL', 'ID', tail.id);
      await new Promise((r) => setTimeout(r, 250));
    }
    const r = await reading;
    const ids = offsets(r.events);
    // Ten different reader connections were killed, and the edge kept following on a new one.
    expect(killed.size).toBe(10);
    expect((await clients()).filter((c) => isEdgeTail(c.name))).toHaveLength(1);
    // One response, from the first event to [DONE]: no reconnect was needed, nothing skipped.
    expect(r.done).toBe(true);
    expect(contiguous(ids, 0)).toBe(true);
    expect(ids.at(-1)).toBe((await meta(edge.url, id)).last_offset);
    expect(textOf(r.events)).toBe(ref.text);
  }, 30_000);

  it('PITFALLS "A blocking XREAD can hang forever after a reconnect": a wedged doorbell connection is replaced by the PING watchdog and the viewer carries on', async () => {
    const body = chatBody('[mock:len=500] the reader connection hangs');
    const ref = reference(body);
    const id = await submit(edge.url, body);
    const reading = readTimed(`${edge.url}/v1/generations/${id}/events`);
    await waitFor('20 events', async () => (await meta(edge.url, id)).last_offset >= 20, 10_000);
    const before = proxy.opened(':tail');
    // Open, silent, never closed: only the watchdog (BLOCK + margin) can notice.
    expect(proxy.freeze(':tail')).toBe(1);
    const frozenAt = Date.now();
    const r = await reading;
    const ids = offsets(r.events);
    expect(r.done).toBe(true);
    expect(contiguous(ids, 0)).toBe(true);
    expect(textOf(r.events)).toBe(ref.text);
    expect(proxy.opened(':tail')).toBeGreaterThan(before);
    // The stall lasted about BLOCK + margin, not forever (and not a viewer-visible reconnect).
    const gap = longestPause(r.events, frozenAt - 100);
    console.log(`wedged reader: longest pause ${gap} ms (BLOCK ${BLOCK_MS} + margin ${MARGIN_MS})`);
    expect(gap).toBeLessThan(BLOCK_MS + MARGIN_MS + 4_000);
  }, 30_000);
});

/**
 * submit(), retrying a 503: with a 100 ms command timeout a loaded box (the full suite on 2
 * cores) can time out the edge's enqueue, which answers store_unavailable, "retry shortly", and
 * a client retries. What this test checks is the blocking reads, not that no command is slow.
 */
async function submitRetrying(base: string, body: Record<string, unknown>): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await submit(base, body);
    } catch (err) {
      if (attempt >= 5 || !String(err).includes('answered 503')) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('a command timeout far below BLOCK', () => {
  let edge: Proc;
  let producer: Proc;

  beforeAll(async () => {
    const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'ctimeout', REDIS_BLOCK_MS: '3000', REDIS_COMMAND_TIMEOUT_MS: '100', REDIS_WATCHDOG_MARGIN_MS: '1000' };
    // A job lost to a spuriously timed-out XREADGROUP would wait for RECLAIM_IDLE_MS.
    [edge, producer] = await Promise.all([startEdge(env), startProducer({ ...env, MOCK_TOKENS_PER_SECOND: '4', MOCK_TTFT_MS: '20', RECLAIM_IDLE_MS: '20000' })]);
  });

  afterAll(async () => {
    await Promise.all([edge?.kill(), producer?.kill()]);
  });

  it('PITFALLS "`commandTimeout` applies to blocking commands too": jobs reach an idle producer at once, and a quiet stream gets every event', async () => {
    const waits: number[] = [];
    for (let k = 0; k < 3; k++) {
      // Arrives while the producer's XREADGROUP has been blocked far longer than the 100 ms timeout.
      await new Promise((r) => setTimeout(r, 1_200));
      const body = chatBody(`[mock:len=6] job ${k}`);
      const id = await submitRetrying(edge.url, body);
      const m = await waitFor(
        `job ${k} completed`,
        async () => {
          const x = await meta(edge.url, id);
          return x.status === 'completed' ? x : null;
        },
        15_000,
      );
      waits.push((m.first_token_at as number) - (m.created_at as number));
      const r = await read(`${edge.url}/v1/generations/${id}/events`);
      expect(textOf(r.events)).toBe(reference(body).text);
    }
    console.log(`time to first token with REDIS_COMMAND_TIMEOUT_MS=100, BLOCK 3000: ${waits.join(', ')} ms`);
    for (const w of waits) expect(w).toBeLessThan(2_500);

    // A stream quieter than the command timeout, followed by a blocking read that is never cut.
    const body = chatBody('[mock:len=12] slow');
    const id = await submitRetrying(edge.url, body);
    const r = await read(`${edge.url}/v1/generations/${id}/events`);
    expect(r.done).toBe(true);
    expect(contiguous(offsets(r.events), 0)).toBe(true);
    expect(textOf(r.events)).toBe(reference(body).text);
  }, 40_000);
});
