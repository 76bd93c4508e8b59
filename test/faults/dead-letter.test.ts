import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatBody, contiguous, meta, offsets, read, reference, streamError, submit, textOf } from '../integration/helpers.js';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

/**
 * A job whose producer keeps dying. Each death leaves it pending; another producer reclaims it
 * after RECLAIM_IDLE_MS, counting deliveries; past MAX_DELIVERIES it is dead-lettered and its
 * generation ended with an error, instead of being retried (and killing producers) forever.
 */
const PREFIX = 'dead';
let redis: RedisServer;
let edge: Proc;
const producers: Proc[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  edge = await startEdge({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: PREFIX });
});

afterAll(async () => {
  await Promise.all([edge?.kill(), ...producers.map((p) => p.kill())]);
  await redis?.stop();
});

async function producer(name: string): Promise<Proc> {
  const p = await startProducer({
    REDIS_URL: redis.url,
    TOKENCAST_KEY_PREFIX: PREFIX,
    PRODUCER_NAME: name,
    MAX_DELIVERIES: '2',
    RECLAIM_IDLE_MS: '1000',
    MOCK_TOKENS_PER_SECOND: '50',
  });
  producers.push(p);
  return p;
}

describe('a job that keeps killing its producer', () => {
  it('PITFALLS "Pending entries of a dead consumer stay pending": reclaimed with a delivery count, then dead-lettered past MAX_DELIVERIES; nothing stays pending', async () => {
    const body = chatBody('[mock:len=3000] every producer that runs me dies');
    const ref = reference(body).text;
    const id = await submit(edge.url, body);
    const viewer = read(`${edge.url}/v1/generations/${id}/events`);
    let offset = 0;
    // Two producers run it in turn and die under it (deliveries 1 and 2).
    for (const name of ['doomed-1', 'doomed-2']) {
      const p = await producer(name);
      await waitFor(
        `${name} writing`,
        async () => {
          const m = await meta(edge.url, id);
          return m.producer === name && m.last_offset >= offset + 10 ? m : null;
        },
        15_000,
      );
      await p.kill('SIGKILL');
      offset = (await meta(edge.url, id)).last_offset;
    }
    // The third delivery is one too many.
    const third = await producer('survivor');
    const m = await waitFor(
      'the generation dead-lettered',
      async () => {
        const x = await meta(edge.url, id);
        return x.status === 'failed' ? x : null;
      },
      15_000,
    );
    expect(m.error).toMatchObject({ code: 'too_many_attempts' });

    const c = redis.client();
    // Acks go out in batches, within RedisJobQueue's ACK_BATCH_MS.
    await waitFor('nothing pending', async () => ((await c.xpending(`${PREFIX}:queue`, 'producers')) as [number, ...unknown[]])[0] === 0, 5_000);
    const dead = (await c.xrange(`${PREFIX}:dead`, '-', '+')) as [string, string[]][];
    expect(dead).toHaveLength(1);
    const fields = Object.fromEntries((dead[0]?.[1] ?? []).flatMap((v, i, a) => (i % 2 ? [] : [[v, a[i + 1]]])));
    expect(fields).toMatchObject({ g: id, deliveries: '3' });
    expect(await third.waitForLog('dead-lettered a job that kept failing')).toContain('dead-lettered a job that kept failing');

    // The viewer got everything that was written, then one clear end.
    const r = await viewer;
    expect(r.done).toBe(true);
    expect(contiguous(offsets(r.events), 0)).toBe(true);
    expect(streamError(r.events)?.code).toBe('too_many_attempts');
    expect(ref.startsWith(textOf(r.events))).toBe(true);
    expect(textOf(r.events).length).toBeGreaterThan(0);

    // The survivor still works.
    const next = chatBody('[mock:len=5] an ordinary job');
    const nid = await submit(edge.url, next);
    const rn = await read(`${edge.url}/v1/generations/${nid}/events`);
    expect(textOf(rn.events)).toBe(reference(next).text);
  }, 60_000);
});
