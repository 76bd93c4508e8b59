import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { chatBody, contiguous, finishes, meta, offsets, read, reference, streamError, submit, textOf } from './helpers.js';

/**
 * A producer killed with SIGKILL mid-generation: another one reclaims the job once it has been
 * silent for RECLAIM_IDLE_MS, and either continues it from the last offset (the mock can) or
 * ends it with producer_lost. A viewer watching throughout sees one clean stream either way.
 */
let redis: RedisServer;
const procs: Proc[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
});

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});

afterAll(async () => {
  await redis?.stop();
});

async function scenario(policy: 'continue' | 'fail') {
  const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: `crash-${policy}`, RECLAIM_IDLE_MS: '1500', RECLAIM_POLICY: policy, MOCK_TOKENS_PER_SECOND: '100' };
  const [edge, doomed] = await Promise.all([startEdge(env), startProducer({ ...env, PRODUCER_NAME: 'doomed' })]);
  procs.push(edge, doomed);
  const body = chatBody(`[mock:len=300] crash test ${policy}`);
  const id = await submit(edge.url, body);
  const watching = read(`${edge.url}/v1/generations/${id}/events`);

  await waitFor('the first producer to write 20 events', async () => (await meta(edge.url, id)).last_offset >= 20, 10_000);
  await doomed.kill('SIGKILL');
  const killedAt = (await meta(edge.url, id)).last_offset;
  const rescuer = await startProducer({ ...env, PRODUCER_NAME: 'rescuer' });
  procs.push(rescuer);

  const watched = await watching;
  const final = await waitFor(
    'a terminal status',
    async () => {
      const m = await meta(edge.url, id);
      return m.status !== 'running' && m.status !== 'queued' ? m : null;
    },
    15_000,
  );
  // Nothing is left pending in the queue: the rescuer acknowledged the job (acks go out in
  // batches, within RedisJobQueue's ACK_BATCH_MS of the end).
  const pending = async () => ((await redis.client().xpending(`${env.TOKENCAST_KEY_PREFIX}:queue`, 'producers')) as [number, ...unknown[]])[0];
  await waitFor('the job acknowledged', async () => (await pending()) === 0, 5_000);
  expect(await rescuer.waitForLog('reclaimed a job from a silent producer')).toContain('reclaimed a job from a silent producer');
  return { body, id, watched, final, killedAt, edge };
}

describe('producer crash', () => {
  it('RECLAIM_POLICY=continue: another producer finishes it with exactly the reference text', async () => {
    const { body, watched, final, killedAt } = await scenario('continue');
    const ref = reference(body);
    expect(watched.done).toBe(true);
    const ids = offsets(watched.events);
    expect(contiguous(ids, 0)).toBe(true);
    expect(ids.length).toBeGreaterThan(killedAt);
    expect(textOf(watched.events)).toBe(ref.text);
    // One end, and nothing after it but [DONE].
    expect(finishes(watched.events)).toEqual(['stop']);
    expect(watched.events.filter((e) => e.data === '[DONE]')).toHaveLength(1);
    expect(watched.events.at(-1)?.data).toBe('[DONE]');
    expect(final).toMatchObject({ status: 'completed', tokens: 300, finish_reason: 'stop', producer: 'rescuer', last_offset: ids.at(-1) });
  });

  it('RECLAIM_POLICY=fail: the generation ends with a failed end event, code producer_lost', async () => {
    const { body, watched, final, killedAt } = await scenario('fail');
    const ref = reference(body);
    expect(watched.done).toBe(true);
    const ids = offsets(watched.events);
    expect(contiguous(ids, 0)).toBe(true);
    // Everything written before the crash, then exactly one end: the failure.
    expect(ids.length).toBeGreaterThanOrEqual(killedAt + 1);
    expect(ref.text.startsWith(textOf(watched.events))).toBe(true);
    expect(streamError(watched.events)).toMatchObject({ code: 'producer_lost' });
    expect(finishes(watched.events)).toEqual([]);
    expect(watched.events.filter((e) => e.data === '[DONE]')).toHaveLength(1);
    expect(final).toMatchObject({ status: 'failed', error: { code: 'producer_lost' } });
  });
});
