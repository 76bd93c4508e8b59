import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { chatBody, contiguous, type Ev, finishes, meta, offsets, type Read, read, reference, sleep, submit, textOf } from './helpers.js';

/**
 * redis-server is killed and restarted (append-only file, fsync always, so nothing acknowledged
 * is lost) while a client watches a generation through an edge. The edge's tail must reconnect
 * and resume from its last id (never from `$`), the producer must retry its appends; the client
 * gets the whole text, either on the same response or after a `retry:` and a Last-Event-ID resume.
 */
let redis: RedisServer;
let edge: Proc;
let producer: Proc;

beforeAll(async () => {
  redis = await startRedisServer({ appendOnly: true, args: ['--appendfsync', 'always'] });
  const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'restart', REDIS_BLOCK_MS: '1000', REDIS_WATCHDOG_MARGIN_MS: '1000' };
  [edge, producer] = await Promise.all([startEdge(env), startProducer({ ...env, MOCK_TOKENS_PER_SECOND: '100' })]);
});

afterAll(async () => {
  await Promise.all([edge?.kill('SIGKILL'), producer?.kill('SIGKILL')]);
  await redis?.stop();
});

/** A client that follows `retry:` hints and dropped responses by resuming with its Last-Event-ID. */
async function resilientWatch(url: string): Promise<{ events: Ev[]; attempts: Read[] }> {
  const events: Ev[] = [];
  const attempts: Read[] = [];
  let last = 0;
  for (let i = 0; i < 40; i++) {
    const r = await read(url, { headers: { 'last-event-id': String(last) } });
    attempts.push(r);
    events.push(...r.events);
    const ids = offsets(r.events);
    if (ids.length) last = ids.at(-1) as number;
    if (r.done) break;
    await sleep(r.retries.at(-1) ?? 250);
  }
  return { events, attempts };
}

describe('Redis restart under a live stream', () => {
  it('the watcher gets the complete text, with no gap and no duplicate', async () => {
    const body = chatBody('[mock:len=400] survive a restart');
    const ref = reference(body);
    const id = await submit(edge.url, body);
    const watching = resilientWatch(`${edge.url}/v1/generations/${id}/events`);
    await waitFor('30 events', async () => (await meta(edge.url, id)).last_offset >= 30, 10_000);
    await redis.restart();
    const before = (await meta(edge.url, id)).last_offset;

    const { events, attempts } = await watching;
    const ids = offsets(events);
    expect(contiguous(ids, 0)).toBe(true);
    expect(ids.length).toBeGreaterThan(before);
    expect(textOf(events)).toBe(ref.text);
    expect(finishes(events)).toEqual(['stop']);
    expect(events.filter((e) => e.data === '[DONE]')).toHaveLength(1);
    // Every attempt but the last ended on a retry hint or a dropped response, never silently "done".
    for (const a of attempts.slice(0, -1)) expect(a.done).toBe(false);
    const m = await meta(edge.url, id);
    expect(m).toMatchObject({ status: 'completed', tokens: 400 });

    // And a fresh generation after the restart works end to end.
    const again = chatBody('[mock:len=20] after the restart');
    const id2 = await submit(edge.url, again);
    const r = await read(`${edge.url}/v1/generations/${id2}/events`);
    expect(textOf(r.events)).toBe(reference(again).text);
  });
});
