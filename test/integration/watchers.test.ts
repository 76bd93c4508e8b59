import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { chatBody, contiguous, meta, offsets, read, reference, sleep, submit, textOf } from './helpers.js';

/** Many viewers of one generation through one edge process: every one gets the very same stream. */
let redis: RedisServer;
let edge: Proc;

beforeAll(async () => {
  redis = await startRedisServer();
  edge = await startEmbedded({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'watch', MOCK_TOKENS_PER_SECOND: '100' });
});

afterAll(async () => {
  await edge?.kill('SIGTERM');
  await redis?.stop();
});

describe('concurrent watchers', () => {
  it('200 watchers of one generation all receive identical streams; a late one gets the whole stream', async () => {
    const body = chatBody('[mock:len=150] for a crowd', { stream_options: { include_usage: true } });
    const ref = reference(body);
    const id = await submit(edge.url, body);
    const url = `${edge.url}/v1/generations/${id}/events`;
    const n = 200;
    // Half join at once, half staggered over the generation: catch-up then live, for every one.
    const reads = await Promise.all(Array.from({ length: n }, (_, i) => sleep(i % 2 === 0 ? 0 : (i * 7) % 900).then(() => read(url))));

    const first = reads[0];
    if (!first) throw new Error('no read');
    expect(first.status).toBe(200);
    expect(first.done).toBe(true);
    expect(textOf(first.events)).toBe(ref.text);
    expect(contiguous(offsets(first.events), 0)).toBe(true);
    // Usage was asked for at creation: the end group carries it.
    const usage = first.events.find((e) => e.data.includes('"usage"'));
    expect(JSON.parse(usage?.data as string).usage).toMatchObject({ completion_tokens: 150 });
    const reference_ = JSON.stringify(first.events);
    let identical = 0;
    for (const r of reads) if (JSON.stringify(r.events) === reference_ && r.done) identical++;
    expect(identical).toBe(n);

    await waitFor('completion', async () => (await meta(edge.url, id)).status === 'completed', 10_000);
    const late = await read(url);
    expect(JSON.stringify(late.events)).toBe(reference_);
  });
});
