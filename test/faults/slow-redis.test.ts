import { entryIdToOffset } from '@tokencast/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StreamEvent, TokencastClient } from '../../packages/client/src/index.js';
import { chatBody, contiguous, offsets, reference, streamError, textOf } from '../integration/helpers.js';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { readTimed } from './timed-read.js';

/**
 * Redis made slow with DEBUG SLEEP (the whole server stops answering for a while) under live
 * viewers, with a command timeout far below the stall: requests fail fast with a clear 503
 * instead of hanging, the producer's appends retry without duplicating anything, the edge's
 * reader comes back by itself, and viewers get their events or a clear signal. The SDK ends with
 * the exact text.
 */
const STALL_S = 3;
let redis: RedisServer;
let edge: Proc;
let producer: Proc;

beforeAll(async () => {
  // Redis 7 refuses DEBUG unless enabled; `local` allows it from 127.0.0.1 only.
  redis = await startRedisServer({ args: ['--enable-debug-command', 'local'] });
  const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'slow', REDIS_COMMAND_TIMEOUT_MS: '300', REDIS_BLOCK_MS: '1000', REDIS_WATCHDOG_MARGIN_MS: '1000' };
  [edge, producer] = await Promise.all([startEdge(env), startProducer({ ...env, MOCK_TOKENS_PER_SECOND: '100' })]);
});

afterAll(async () => {
  await Promise.all([edge?.kill(), producer?.kill()]);
  await redis?.stop();
});

async function status(url: string): Promise<{ status: number; code: string | undefined; retryAfter: string | null; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
  return { status: res.status, code: body.error?.code, retryAfter: res.headers.get('retry-after'), ms: performance.now() - t0 };
}

describe('Redis stalled by DEBUG SLEEP', () => {
  it(`a ${STALL_S} s stall: commands time out with a clear 503, then everything recovers; viewers get every event or a clear signal, the SDK the exact text`, async () => {
    const body = chatBody('[mock:len=500] Redis stalls under me');
    const ref = reference(body).text;
    const client = new TokencastClient({ baseUrl: edge.url, idleTimeoutMs: 10_000 });
    const { id } = await client.submit(body);
    const events = `${edge.url}/v1/generations/${id}/events`;
    const raw = readTimed(events);
    let text = '';
    let last: StreamEvent | null = null;
    let seen = 0;
    let go!: () => void;
    const started = new Promise<void>((r) => {
      go = r;
    });
    const sdk = (async () => {
      for await (const ev of client.stream(id)) {
        last = ev;
        if (ev.type === 'token') text += ev.text;
        if (++seen === 30) go();
      }
    })();
    await started;

    // The stall: DEBUG SLEEP blocks the whole server, including the connection that sends it.
    const staller = redis.client();
    const stall = staller.call('DEBUG', 'SLEEP', String(STALL_S));
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 200));
    const meta = await status(`${edge.url}/v1/generations/${id}`);
    const ready = await status(`${edge.url}/readyz`);
    const during = Date.now() - t0;
    await stall;
    const stalledFor = Date.now() - t0;
    console.log(
      `DEBUG SLEEP ${STALL_S}: GET meta answered ${meta.status} in ${meta.ms.toFixed(0)} ms, /readyz ${ready.status} in ${ready.ms.toFixed(0)} ms; the stall lasted ${stalledFor} ms`,
    );
    // Both answered while Redis was still asleep: failing fast, not waiting the stall out.
    expect(during).toBeLessThan(STALL_S * 1000);
    expect(meta).toMatchObject({ status: 503, code: 'store_unavailable' });
    expect(Number(meta.retryAfter)).toBeGreaterThan(0);
    expect(ready).toMatchObject({ status: 503, code: 'store_unavailable' });

    // Recovery: no restart of anything.
    await waitFor('ready again', async () => (await status(`${edge.url}/readyz`)).status === 200, 10_000);
    await sdk;
    expect(last).toMatchObject({ type: 'done', status: 'completed' });
    expect(text).toBe(ref);

    // The raw viewer on one response: the whole stream, or a clear "reconnect" / error, never a silent cut.
    const r = await raw;
    const ids = offsets(r.events);
    expect(contiguous(ids, 0)).toBe(true);
    if (r.done && !streamError(r.events)) expect(textOf(r.events)).toBe(ref);
    else expect(r.retries.length > 0 || streamError(r.events) !== null, JSON.stringify({ done: r.done, retries: r.retries, broken: r.broken })).toBe(true);

    // The producer retried its appends through the stall: the stored log is dense, one end, the exact text.
    const c = redis.client();
    const entries = (await c.xrange(`slow:{${id}}:events`, '-', '+')) as [string, string[]][];
    expect(entries.map(([eid]) => entryIdToOffset(eid))).toEqual(entries.map((_, k) => k + 1));
    expect(entries.filter(([, f]) => f[0] === 'e')).toHaveLength(1); // the end entry opens with its kind
    expect(await c.hget(`slow:{${id}}:meta`, 'status')).toBe('completed');
    expect(edge.child.exitCode).toBeNull();
    expect(producer.child.exitCode).toBeNull();
  }, 45_000);
});
