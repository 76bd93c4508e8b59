import { stream } from '@durable-streams/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatBody, reference, submit } from '../integration/helpers.js';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { freePort, type RedisServer, startRedisServer } from '../support/redis.js';
import { readSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';

/**
 * Generations as read-only durable streams (`/v1/stream/generations/<id>`), read by the real
 * @durable-streams/client: the JSON messages are the generation's OpenAI chunks, offsets are its
 * event offsets, and a client that loses its edge twice (SIGKILL, restarted on the same port)
 * still ends with exactly the generation's text.
 */
let redis: RedisServer;
let edge: Proc;
let edgePort: number;
let producer: Proc;
let env: Record<string, string>;

const ZERO = '0000000000000000';
const offsetOf = (k: number) => `${ZERO}_${String(k).padStart(16, '0')}`;

interface Chunk {
  choices: { delta: { content?: string }; finish_reason: string | null }[];
}

const textOfChunks = (chunks: readonly Chunk[]) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

beforeAll(async () => {
  redis = await startRedisServer();
  edgePort = await freePort();
  env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'dsgen' };
  // Slow model: a generation lasts long enough to lose the edge twice while it runs.
  [edge, producer] = await Promise.all([startEdge({ ...env, PORT: String(edgePort) }), startProducer({ ...env, MOCK_TOKENS_PER_SECOND: '30' })]);
});

afterAll(async () => {
  await Promise.all([edge?.kill('SIGTERM'), producer?.kill('SIGTERM')]);
  await redis?.stop();
});

const viewUrl = (id: string) => `${edge.url}/v1/stream/generations/${id}`;

describe('generation views', () => {
  it('serve the SSE payloads as JSON messages, at the same offsets, closed at the end', async () => {
    const body = chatBody('[mock:len=12] a short one');
    const id = await submit(edge.url, body);
    const sse = await readSse(`${edge.url}/v1/generations/${id}/events`);
    const payloads = sse.events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as unknown);
    const last = Math.max(...sse.events.map((e) => Number(e.id ?? 0)));

    const res = await fetch(viewUrl(id));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('stream-next-offset')).toBe(offsetOf(last));
    expect(res.headers.get('stream-closed')).toBe('true');
    expect(res.headers.get('stream-up-to-date')).toBe('true');
    expect(await res.json()).toEqual(payloads);

    // From event k: the events after k, exactly as ?from=k gives them.
    const k = 5;
    const tail = await fetch(`${viewUrl(id)}?offset=${offsetOf(k)}`);
    const fromK = await readSse(`${edge.url}/v1/generations/${id}/events?from=${k}`);
    expect(await tail.json()).toEqual(fromK.events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as unknown));

    const head = await fetch(viewUrl(id), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('stream-next-offset')).toBe(offsetOf(last));
    expect(head.headers.get('stream-closed')).toBe('true');

    // Read-only, and offsets of other streams are refused.
    for (const method of ['PUT', 'POST', 'DELETE']) {
      const w = await fetch(viewUrl(id), { method, headers: { 'content-type': 'application/json' }, body: method === 'DELETE' ? null : '{}' });
      expect(w.status).toBe(405);
    }
    expect((await fetch(`${viewUrl(id)}?offset=${offsetOf(last + 1)}`)).status).toBe(400);
    expect((await fetch(`${viewUrl(id)}?offset=0000000000000001_0000000000000001`)).status).toBe(410);
    expect((await fetch(`${edge.url}/v1/stream/generations/gen_aaaaaaaaaaaaaaaaaaaaaaaaaa`)).status).toBe(404);
  });

  it('a Durable Streams client follows a live generation across two edge crashes and ends with its exact text', async () => {
    const body = chatBody('[mock:len=300] a long story to survive two crashes');
    const ref = reference(body);
    const id = await submit(edge.url, body);
    const chunks: Chunk[] = [];
    let failedFetches = 0;
    let closed = false;
    const res = await stream<Chunk>({
      url: viewUrl(id),
      offset: '-1',
      live: 'long-poll',
      backoffOptions: { initialDelay: 50, maxDelay: 500, multiplier: 2 },
      fetch: async (...args: Parameters<typeof fetch>) => {
        try {
          return await fetch(...args);
        } catch (err) {
          failedFetches += 1;
          throw err;
        }
      },
    });
    const done = new Promise<void>((resolve) => {
      res.subscribeJson((batch) => {
        chunks.push(...batch.items);
        if (batch.streamClosed) {
          closed = true;
          resolve();
        }
      });
    });

    const atDrops: number[] = [];
    for (let drop = 0; drop < 2; drop++) {
      // Let some more of the generation through, then take the edge away mid-stream.
      const before = chunks.length;
      await waitFor(`chunks before drop ${drop + 1}`, () => chunks.length >= before + 20, 20_000);
      atDrops.push(chunks.length);
      await edge.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 300));
      edge = await startEdge({ ...env, PORT: String(edgePort) });
    }
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('the client did not reach the end')), 60_000))]);
    res.cancel();

    expect(closed).toBe(true);
    expect(failedFetches).toBeGreaterThanOrEqual(2);
    // Both drops happened while the generation was still streaming to this client.
    expect(chunks.length).toBeGreaterThan(atDrops[1] as number);
    expect(textOfChunks(chunks)).toBe(ref.text);
    expect(chunks[0]?.choices[0]?.delta).toMatchObject({ role: 'assistant' });
    expect(chunks.filter((c) => c.choices[0]?.finish_reason).map((c) => c.choices[0]?.finish_reason)).toEqual([ref.finishReason]);
  }, 90_000);

  it('in SSE mode, a client follows a live generation across a draining edge (SIGTERM, restarted)', async () => {
    const body = chatBody('[mock:len=150] a story told over SSE');
    const ref = reference(body);
    const id = await submit(edge.url, body);
    const chunks: Chunk[] = [];
    const res = await stream<Chunk>({ url: viewUrl(id), offset: '-1', live: 'sse', backoffOptions: { initialDelay: 50, maxDelay: 500, multiplier: 2 } });
    const done = new Promise<void>((resolve) => {
      res.subscribeJson((batch) => {
        chunks.push(...batch.items);
        if (batch.streamClosed) resolve();
      });
    });
    await waitFor('chunks before the drain', () => chunks.length >= 20, 20_000);
    const atDrain = chunks.length;
    // A draining edge ends its SSE responses cleanly; the client comes back from its offset.
    await edge.kill('SIGTERM');
    edge = await startEdge({ ...env, PORT: String(edgePort) });
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('the client did not reach the end')), 60_000))]);
    res.cancel();
    expect(chunks.length).toBeGreaterThan(atDrain);
    expect(textOfChunks(chunks)).toBe(ref.text);
  }, 90_000);
});
