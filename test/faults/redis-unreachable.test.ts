import { afterAll, describe, expect, it } from 'vitest';
import { type StreamEvent, TokencastClient } from '../../packages/client/src/index.js';
import { chatBody, reference } from '../integration/helpers.js';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { freePort, type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

/**
 * Redis unreachable when the edge and producer start, and again mid-run. Nothing crashes;
 * readiness says so; every request that needs the store gets a clear 503 (OpenAI error shape,
 * Retry-After) at once rather than hanging; and once redis-server is there again everything
 * carries on by itself, a viewer on the SDK ending with the exact text.
 */
let edge: Proc | undefined;
let producer: Proc | undefined;
let redis: RedisServer | undefined;

afterAll(async () => {
  await Promise.all([edge?.kill(), producer?.kill()]);
  await redis?.stop();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  code: string | undefined;
  body: Record<string, unknown>;
  ms: number;
}

async function ask(url: string, init: RequestInit = {}): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.status, retryAfter: res.headers.get('retry-after'), code: (body.error as { code?: string } | undefined)?.code, body, ms: performance.now() - t0 };
}

const post = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A 503 in the OpenAI shape with Retry-After, answered promptly. */
function expectUnavailable(a: Answer, what: string): void {
  expect({ what, status: a.status, code: a.code }).toEqual({ what, status: 503, code: 'store_unavailable' });
  expect(Number(a.retryAfter), what).toBeGreaterThan(0);
  expect(Object.keys(a.body.error as object).sort(), what).toEqual(['code', 'message', 'param', 'type']);
  expect(JSON.stringify(a.body), what).not.toMatch(/at .*\.js:\d+/); // no stack trace
  expect(a.ms, what).toBeLessThan(5_000);
}

describe('Redis unreachable', () => {
  it('at start and mid-run: /readyz 503 and clear 503s, no crash, and everything recovers by itself once redis-server is back', async () => {
    const port = await freePort();
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, TOKENCAST_KEY_PREFIX: 'unreachable', REDIS_COMMAND_TIMEOUT_MS: '1000' };
    [edge, producer] = await Promise.all([startEdge(env), startProducer({ ...env, MOCK_TOKENS_PER_SECOND: '100' })]);
    const e = edge.url;
    const unknown = 'gen_aaaaaaaaaaaaaaaaaaaaaaaaaa';

    // ---- nothing listens on the port --------------------------------------------------------
    expect((await ask(`${e}/healthz`)).status).toBe(200);
    expectUnavailable(await ask(`${e}/readyz`), 'readyz');
    expectUnavailable(await ask(`${e}/v1/chat/completions`, post(chatBody('[mock:len=5] hi'))), 'chat');
    expectUnavailable(await ask(`${e}/v1/chat/completions`, post(chatBody('[mock:len=5] hi', { stream: true }))), 'chat stream');
    expectUnavailable(await ask(`${e}/v1/generations`, post(chatBody('[mock:len=5] hi'))), 'generations');
    expectUnavailable(await ask(`${e}/v1/generations/${unknown}`), 'meta');
    expectUnavailable(await ask(`${e}/v1/generations/${unknown}/events`), 'events');
    // What needs no store still answers.
    expect((await ask(`${e}/v1/models`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(edge.child.exitCode).toBeNull();
    expect(producer.child.exitCode).toBeNull();

    // ---- redis-server appears on that port ----------------------------------------------------
    redis = await startRedisServer({ port, appendOnly: true, args: ['--appendfsync', 'always'] });
    const t0 = Date.now();
    await waitFor('the edge ready', async () => (await ask(`${e}/readyz`)).status === 200, 10_000);
    const readyAfter = Date.now() - t0;
    const body = chatBody('[mock:len=20] once Redis is there');
    const done = await waitFor(
      'a completion',
      async () => {
        const a = await ask(`${e}/v1/chat/completions`, post(body));
        return a.status === 200 ? a : null;
      },
      15_000,
    );
    expect((done.body.choices as { message: { content: string } }[])[0]?.message.content).toBe(reference(body).text);
    console.log(`redis-server appeared: edge ready after ${readyAfter} ms`);

    // ---- and goes away mid-generation ---------------------------------------------------------
    const live = chatBody('[mock:len=300] Redis dies under me');
    const client = new TokencastClient({ baseUrl: e, idleTimeoutMs: 10_000 });
    const { id } = await client.submit(live);
    let text = '';
    let last: StreamEvent | null = null;
    let reconnects = 0;
    let seen = 0;
    let killed!: () => void;
    const atForty = new Promise<void>((r) => {
      killed = r;
    });
    const watching = (async () => {
      for await (const ev of client.stream(id, { onReconnect: () => void reconnects++ })) {
        last = ev;
        if (ev.type === 'token') text += ev.text;
        if (++seen === 40) killed();
      }
    })();
    await atForty;
    await redis.kill();
    expectUnavailable(await ask(`${e}/readyz`), 'readyz mid-run');
    expectUnavailable(await ask(`${e}/v1/generations/${id}`), 'meta mid-run');
    expectUnavailable(await ask(`${e}/v1/generations`, post(chatBody('[mock:len=5] while down'))), 'generations mid-run');
    await new Promise((r) => setTimeout(r, 1_000));
    await redis.start();
    await watching;
    expect(last).toMatchObject({ type: 'done', status: 'completed' });
    expect(text).toBe(reference(live).text);
    await waitFor('ready again', async () => (await ask(`${e}/readyz`)).status === 200, 10_000);
    const after = await ask(`${e}/v1/generations/${id}`);
    expect(after.body).toMatchObject({ status: 'completed', tokens: 300 });
    console.log(`mid-run outage: the SDK viewer reconnected ${reconnects} times and ended with the exact text`);
    expect(edge.child.exitCode).toBeNull();
    expect(producer.child.exitCode).toBeNull();
  }, 60_000);
});
