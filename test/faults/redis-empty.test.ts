import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError, type StreamEvent, TokencastClient } from '../../packages/client/src/index.js';
import { chatBody, offsets, reference, streamError, textOf } from '../integration/helpers.js';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { readTimed } from './timed-read.js';

/**
 * redis-server without persistence restarted under a live generation: it comes back empty.
 * Viewers must be told (generation_lost in the stream, or 404 on resume), within seconds; none
 * may hang, and no viewer may be handed a second text under the same offsets: the producer must
 * not write the lost generation again from where it was. (The AOF case, where viewers complete,
 * is test/integration/redis-restart.test.ts and test/cluster/redis-restart.test.ts.)
 */
let redis: RedisServer;
let edge: Proc;
let producer: Proc;

beforeAll(async () => {
  redis = await startRedisServer({ appendOnly: false });
  const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'empty' };
  [edge, producer] = await Promise.all([startEdge({ ...env, EDGE_LIVENESS_CHECK_MS: '1000' }), startProducer({ ...env, MOCK_TOKENS_PER_SECOND: '50', RECLAIM_IDLE_MS: '2000' })]);
});

afterAll(async () => {
  await Promise.all([edge?.kill(), producer?.kill()]);
  await redis?.stop();
});

describe('redis-server restarted empty (persistence "none")', () => {
  it('PITFALLS "A recreated stream reuses small ids": viewers are told the generation is gone, none hangs, and the stream is not written again', async () => {
    const body = chatBody('[mock:len=800] Redis forgets me');
    const ref = reference(body).text;
    const client = new TokencastClient({ baseUrl: edge.url, idleTimeoutMs: 10_000, retry: { maxAttempts: 20 } });
    const { id } = await client.submit(body);
    const events = `${edge.url}/v1/generations/${id}/events`;
    const raw = readTimed(events);
    let sdkText = '';
    let sdkEnd: StreamEvent | null = null;
    let sdkError: unknown = null;
    let at = 0;
    const sdk = (async () => {
      try {
        for await (const ev of client.stream(id)) {
          if (ev.type === 'token') {
            sdkText += ev.text;
            at = ev.offset;
          } else sdkEnd = ev;
        }
      } catch (err) {
        sdkError = err;
      }
    })();
    await waitFor('40 events', () => at >= 40, 10_000);

    await redis.restart(); // kill -9 and start: nothing was persisted
    const t0 = Date.now();
    const bounded = <T>(p: Promise<T>, what: string) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} still waiting after 20 s`)), 20_000))]);
    const [r] = await Promise.all([bounded(raw, 'the raw viewer'), bounded(sdk, 'the SDK viewer')]);
    const toldAfter = Date.now() - t0;

    // The SDK: an error event saying the generation is gone, or a 404 when it resumed.
    const sdkSaid = sdkEnd ? `${(sdkEnd as StreamEvent).type}:${(sdkEnd as { code?: string }).code}` : sdkError instanceof HttpError ? `http:${sdkError.status}` : String(sdkError);
    console.log(`empty restart: raw viewer ended after ${toldAfter} ms with ${JSON.stringify(streamError(r.events))} retries ${JSON.stringify(r.retries)}; SDK: ${sdkSaid}`);
    expect(['error:generation_lost', 'error:offset_gone', 'http:404']).toContain(sdkSaid);
    expect(ref.startsWith(sdkText)).toBe(true);

    // The raw viewer: its response ended with the error, or with a reconnect hint whose resume is a 404.
    const said = streamError(r.events)?.code ?? null;
    if (said === null) {
      expect(r.retries.length + (r.broken ? 1 : 0)).toBeGreaterThan(0);
      const last = offsets(r.events).at(-1) ?? 0;
      const again = await fetch(events, { headers: { 'last-event-id': String(last) } });
      expect(again.status).toBe(404);
      const unknown = await fetch(`${edge.url}/v1/generations/gen_aaaaaaaaaaaaaaaaaaaaaaaaaa/events`);
      expect(await again.text()).toBe(await unknown.text());
    } else expect(['generation_lost', 'offset_gone']).toContain(said);
    expect(ref.startsWith(textOf(r.events))).toBe(true);

    // Nobody recreates the stream: the producer's next append finds no generation and stops.
    await new Promise((res) => setTimeout(res, 2_000));
    const c = redis.client();
    expect(await c.exists(`empty:{${id}}:events`, `empty:{${id}}:meta`)).toBe(0);
    expect((await fetch(`${edge.url}/v1/generations/${id}`)).status).toBe(404);

    // And new work goes through (the queue and its consumer group are created again).
    const next = chatBody('[mock:len=10] after the empty restart');
    const res = await waitFor(
      'a completion after the restart',
      async () => {
        const x = await fetch(`${edge.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(next) });
        return x.status === 200 ? ((await x.json()) as { choices: { message: { content: string } }[] }) : null;
      },
      20_000,
    );
    expect(res.choices[0]?.message.content).toBe(reference(next).text);
    expect(producer.child.exitCode).toBeNull();
    expect(edge.child.exitCode).toBeNull();
  }, 60_000);
});
