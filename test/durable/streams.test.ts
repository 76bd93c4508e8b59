import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatBody, sleep } from '../integration/helpers.js';
import { type Proc, startEdge } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

/**
 * What the conformance suite cannot see: how durable streams sit in Redis (one hash tag per
 * stream whatever its name), incarnations (an offset of a deleted stream is refused by its
 * successor), live readers across edges and across a Redis restart, and API-key namespaces.
 */
const PREFIX = 'dsx';
let redis: RedisServer;
let edgeA: Proc;
let edgeB: Proc;

beforeAll(async () => {
  redis = await startRedisServer({ appendOnly: true });
  // Re-reads every minute only: a live reader must be woken by the stream's bell.
  const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: PREFIX, DURABLE_STREAMS_RECHECK_MS: '60000', LOG_LEVEL: 'warn' };
  [edgeA, edgeB] = await Promise.all([startEdge(env), startEdge(env)]);
});

afterAll(async () => {
  await Promise.all([edgeA?.kill('SIGTERM'), edgeB?.kill('SIGTERM')]);
  await redis?.stop();
});

const put = (base: string, name: string, body?: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/v1/stream/${name}`, { method: 'PUT', headers: { 'content-type': 'text/plain', ...headers }, ...(body === undefined ? {} : { body }) });
const post = (base: string, name: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/v1/stream/${name}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body });

/** An SSE response read as it arrives: the data events' text and the control events. */
function follow(url: string) {
  const ac = new AbortController();
  const state = { status: 0, data: [] as string[], controls: [] as Record<string, unknown>[], ended: false };
  const done = (async () => {
    const res = await fetch(url, { signal: ac.signal });
    state.status = res.status;
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const lines = block.split('\n');
          const type = lines
            .find((l) => l.startsWith('event:'))
            ?.slice(6)
            .trim();
          const data = lines
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5))
            .join('\n');
          if (type === 'data') state.data.push(data);
          if (type === 'control') state.controls.push(JSON.parse(data) as Record<string, unknown>);
          i = buf.indexOf('\n\n');
        }
      }
    } catch {
      // aborted
    }
    state.ended = true;
  })();
  return { state, stop: () => ac.abort(), done };
}

describe('durable streams on Redis', () => {
  it('keep every key of a stream inside one hash tag, whatever braces or separators its name holds', async () => {
    const name = 'evil}{x}:a b/{c}';
    const res = await put(edgeA.url, encodeURIComponent(name), 'x');
    expect(res.status).toBe(201);
    const keys = await redis.client().keys(`${PREFIX}:ds:*`);
    const mine = keys.filter((k) => Buffer.from(/\{([^}]*)\}/.exec(k)?.[1] ?? '', 'base64url').toString() === name);
    expect(mine.sort()).toEqual([`${PREFIX}:ds:{${Buffer.from(name).toString('base64url')}}:log`, `${PREFIX}:ds:{${Buffer.from(name).toString('base64url')}}:meta`]);
    for (const k of mine) expect(k).toMatch(/^[^{}]*\{[A-Za-z0-9_-]+\}[^{}]*$/);
    expect(await (await fetch(`${edgeB.url}/v1/stream/${encodeURIComponent(name)}`)).text()).toBe('x');
  });

  it('refuse an offset of a deleted stream on its successor at the same URL (410), never replay from it', async () => {
    await put(edgeA.url, 'reborn', 'old data, long enough');
    const old = (await fetch(`${edgeA.url}/v1/stream/reborn`)).headers.get('stream-next-offset') as string;
    expect((await fetch(`${edgeB.url}/v1/stream/reborn`, { method: 'DELETE' })).status).toBe(204);
    await put(edgeB.url, 'reborn', 'new');
    await post(edgeB.url, 'reborn', ' and more');
    const stale = await fetch(`${edgeA.url}/v1/stream/reborn?offset=${old}`);
    expect(stale.status).toBe(410);
    const fresh = await fetch(`${edgeA.url}/v1/stream/reborn`);
    expect(await fresh.text()).toBe('new and more');
    expect(fresh.headers.get('stream-next-offset')?.split('_')[0]).not.toBe(old.split('_')[0]);
  });

  it('wake a live SSE reader on one edge with an append made on another, also after Redis restarts', async () => {
    await put(edgeA.url, 'live', 'history');
    const reader = follow(`${edgeA.url}/v1/stream/live?offset=now&live=sse`);
    await waitFor('the first control event', () => reader.state.controls.length > 0, 5_000);
    expect(reader.state.controls[0]).toMatchObject({ upToDate: true });

    expect((await post(edgeB.url, 'live', 'one')).status).toBe(204);
    await waitFor('"one" on the reader', () => reader.state.data.includes('one'), 5_000);

    await redis.restart();
    // Edge B may answer 503 while it reconnects: the append is retried until it is taken.
    await waitFor('the append after the restart', async () => (await post(edgeB.url, 'live', 'two').catch(() => null))?.status === 204, 15_000);
    // Re-reads are a minute apart here: only the bell (or its replay on reconnect) can deliver this.
    await waitFor('"two" on the reader after the restart', () => reader.state.data.includes('two'), 10_000);
    expect(reader.state.ended).toBe(false);
    expect(reader.state.data).toEqual(['one', 'two']);
    reader.stop();
    await reader.done;
  }, 60_000);

  it('tell a live SSE reader that the stream was closed (close without data, from another edge) and end', async () => {
    await put(edgeA.url, 'closing', 'x');
    const reader = follow(`${edgeA.url}/v1/stream/closing?offset=now&live=sse`);
    await waitFor('the first control event', () => reader.state.controls.length > 0, 5_000);
    const res = await fetch(`${edgeB.url}/v1/stream/closing`, { method: 'POST', headers: { 'stream-closed': 'true' } });
    expect(res.status).toBe(204);
    await waitFor('the end of the SSE response', () => reader.state.ended, 5_000);
    expect(reader.state.data).toEqual([]);
    expect(reader.state.controls.at(-1)).toMatchObject({ streamClosed: true });
    expect(reader.state.controls.at(-1)?.streamNextOffset).toBe(res.headers.get('stream-next-offset'));
  });

  it('answer a long-poll on one edge as soon as another edge appends', async () => {
    const r = await put(edgeA.url, 'poll', 'a');
    const tail = r.headers.get('stream-next-offset') as string;
    const started = Date.now();
    const poll = fetch(`${edgeA.url}/v1/stream/poll?offset=${tail}&live=long-poll`);
    await sleep(200);
    await post(edgeB.url, 'poll', 'b');
    const res = await poll;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('b');
    // Well inside the 20 s long-poll timeout: the bell woke it.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('with API keys', () => {
  let edge: Proc;
  const alice = 'sk-alice-0123456789abcdef';
  const bob = 'sk-bob-0123456789abcdefgh';
  const as = (key: string) => ({ authorization: `Bearer ${key}` });

  beforeAll(async () => {
    edge = await startEdge({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: `${PREFIX}k`, API_KEYS: `alice:${alice},bob:${bob}`, LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await edge?.kill('SIGTERM');
  });

  it('give each key its own streams and refuse callers without one', async () => {
    expect((await put(edge.url, 'notes', 'by alice', as(alice))).status).toBe(201);
    expect((await fetch(`${edge.url}/v1/stream/notes`, { headers: as(bob) })).status).toBe(404);
    expect((await put(edge.url, 'notes', 'by bob', as(bob))).status).toBe(201);
    expect(await (await fetch(`${edge.url}/v1/stream/notes`, { headers: as(alice) })).text()).toBe('by alice');
    expect(await (await fetch(`${edge.url}/v1/stream/notes`, { headers: as(bob) })).text()).toBe('by bob');
    expect((await fetch(`${edge.url}/v1/stream/notes`)).status).toBe(401);
    expect((await post(edge.url, 'notes', 'anonymous')).status).toBe(401);
  });

  it('open a generation view to its key and to its read token only', async () => {
    const res = await fetch(`${edge.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...as(alice) },
      body: JSON.stringify(chatBody('[mock:len=3] hi')),
    });
    expect(res.status).toBe(202);
    const { id, read_token } = (await res.json()) as { id: string; read_token: string };
    const view = `${edge.url}/v1/stream/generations/${id}`;
    expect((await fetch(view, { headers: as(alice) })).status).toBe(200);
    expect((await fetch(`${view}?token=${read_token}`)).status).toBe(200);
    expect((await fetch(view, { headers: as(bob) })).status).toBe(404);
    expect((await fetch(view)).status).toBe(401);
  });
});
