import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../../../test/support/processes.js';
import { type RedisServer, startRedisServer } from '../../../test/support/redis.js';
import { waitFor } from '../../../test/support/wait.js';
import { MessageAccumulator, type ReconnectInfo, RetryBudgetExceededError, type StreamEvent, TokencastClient } from '../src/index.js';
import { CutProxy } from './support/cut-proxy.js';
import { mockRequest, reference, referenceParts, toolRequest } from './support/edge.js';

/**
 * The SDK against a real embedded edge on a real redis-server, through a proxy that breaks the
 * connection at random byte offsets: mid-header, mid-frame, between the end chunk and [DONE].
 * Every stream must still yield exactly the uninterrupted text, each offset once, in order.
 */
let redis: RedisServer;
let edge: Proc;
let proxy: CutProxy;

beforeAll(async () => {
  redis = await startRedisServer();
  edge = await startEmbedded({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'sdk', MOCK_TOKENS_PER_SECOND: '400' });
  proxy = await CutProxy.start(edge.port);
});

afterAll(async () => {
  await proxy?.close();
  await edge?.kill();
  await redis?.stop();
});

interface Collected {
  text: string;
  offsets: number[];
  terminal: StreamEvent | null;
  reconnects: number;
}

async function collect(events: AsyncIterable<StreamEvent>): Promise<Collected> {
  const out: Collected = { text: '', offsets: [], terminal: null, reconnects: 0 };
  for await (const ev of events) {
    if (ev.type === 'done' || ev.type === 'error') {
      out.terminal = ev;
      out.reconnects = ev.stats.reconnects;
    } else {
      if (ev.type === 'token') out.text += ev.text;
      out.offsets.push(ev.offset);
    }
  }
  return out;
}

/** Bytes of SSE an edge sends for a mock generation of `len` tokens, roughly (headers included). */
const approxBytes = (len: number) => 300 + len * 215;

describe('stream() resumes by itself', () => {
  it('yields exactly the uninterrupted text across 100+ connection cuts at random byte offsets', async () => {
    const direct = new TokencastClient({ baseUrl: edge.url });
    const viaProxy = new TokencastClient({ baseUrl: proxy.url, retry: { maxAttempts: 20, initialDelayMs: 20, maxDelayMs: 200 } });
    let cuts = 0;
    let runs = 0;
    let live = 0;
    while (cuts < 100 && runs < 250) {
      runs++;
      const len = 20 + Math.floor(Math.random() * 40);
      const req = mockRequest(len);
      const expected = reference(req);
      const { id } = await direct.submit(req);
      // Even runs stream the generation while it is written; odd runs replay it once finished.
      if (runs % 2 === 1) {
        for await (const ev of direct.stream(id)) if (ev.type !== 'token') break;
      } else live++;
      const faults = 1 + Math.floor(Math.random() * 3);
      for (let i = 0; i < faults; i++) proxy.arm({ cutAfter: Math.floor(Math.random() * approxBytes(len)) });
      const got = await collect(viaProxy.stream(id));
      proxy.disarm();
      expect(got.text, `run ${runs} (${id})`).toBe(expected);
      expect(got.offsets, `run ${runs}`).toEqual(got.offsets.map((_, i) => i + 1));
      expect(got.terminal).toMatchObject({ type: 'done', status: 'completed', finishReason: 'stop', usage: { completion_tokens: len } });
      cuts += got.reconnects;
    }
    expect(cuts).toBeGreaterThanOrEqual(100);
    expect(live).toBeGreaterThan(10);
    console.log(`resume: ${cuts} mid-stream cuts over ${runs} streams (${live} live), every text exact`);
  }, 90_000);

  it('retries 5xx answers and resumes after them', async () => {
    const client = new TokencastClient({ baseUrl: proxy.url, retry: { initialDelayMs: 10, maxDelayMs: 50 } });
    const req = mockRequest(40);
    const { id } = await new TokencastClient({ baseUrl: edge.url }).submit(req);
    const reasons: ReconnectInfo[] = [];
    proxy.arm({ status: 503 }, { status: 502 }, { status: 500 });
    const got = await collect(client.stream(id, { onReconnect: (i) => reasons.push(i) }));
    proxy.disarm();
    expect(got.text).toBe(reference(req));
    expect(reasons.map((r) => (r.reason as { status?: number }).status)).toEqual([503, 502, 500]);
    // Retry-After: 0 from the proxy replaces the backoff.
    expect(reasons.every((r) => r.delayMs === 0)).toBe(true);
  });

  it('does not retry a 4xx: an unknown id is an HttpError at once', async () => {
    const client = new TokencastClient({ baseUrl: edge.url });
    const err = await collect(client.stream('gen_aaaaaaaaaaaaaaaaaaaaaaaaaa')).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'HttpError', status: 404, code: 'generation_not_found' });
  });

  it('gives up with RetryBudgetExceededError when the edge stays away', async () => {
    const gone = await CutProxy.start(edge.port);
    const client = new TokencastClient({ baseUrl: gone.url, retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 20 } });
    const { id } = await new TokencastClient({ baseUrl: edge.url }).submit(mockRequest(30));
    gone.arm({ cutAfter: 0 }, { cutAfter: 0 }, { cutAfter: 0 }, { cutAfter: 0 });
    const err = await collect(client.stream(id)).catch((e: unknown) => e);
    await gone.close();
    expect(err).toBeInstanceOf(RetryBudgetExceededError);
    expect(err).toMatchObject({ code: 'retry_budget_exceeded', attempts: 4, lastOffset: 0 });
  });

  it('resumes from a given offset, and from the terminal offset reports the outcome', async () => {
    const client = new TokencastClient({ baseUrl: edge.url });
    const req = mockRequest(30);
    const all: { offset: number; text: string }[] = [];
    const s = client.stream(req);
    let end: StreamEvent | null = null;
    for await (const ev of s) {
      if (ev.type === 'token') all.push(ev);
      else end = ev;
    }
    const id = s.id as string;
    // Midway by events, not tokens: under load the producer coalesces tokens into fewer events.
    const k = Math.floor(all.length / 2);
    expect(k).toBeGreaterThan(0);
    const tail = await collect(client.stream(id, { from: k }));
    expect(tail.offsets[0]).toBe(k + 1);
    expect(tail.text).toBe(
      all
        .slice(k)
        .map((e) => e.text)
        .join(''),
    );
    const after = await collect(client.stream(id, { from: (end as { offset: number }).offset }));
    expect(after.text).toBe('');
    expect(after.terminal).toMatchObject({ type: 'done', status: 'completed', finishReason: 'stop' });
  });

  it('closes the connection when the caller stops iterating or aborts', async () => {
    const own = await CutProxy.start(edge.port);
    try {
      const client = new TokencastClient({ baseUrl: own.url });
      const { id } = await new TokencastClient({ baseUrl: edge.url }).submit(mockRequest(2_000));
      for await (const ev of client.stream(id)) if (ev.type === 'token' && ev.offset === 3) break;
      await waitFor('own.open === 0', () => own.open === 0, 5_000);
      const ac = new AbortController();
      const aborted = collect(client.stream(id, { signal: ac.signal })).catch((e: unknown) => e);
      await waitFor('own.open === 1', () => own.open === 1, 5_000);
      ac.abort();
      expect(await aborted).toMatchObject({ name: 'AbortError' });
      await waitFor('own.open === 0', () => own.open === 0, 5_000);
      await new TokencastClient({ baseUrl: edge.url }).cancel(id);
    } finally {
      await own.close();
    }
  });
});

describe('tool calls and reasoning', () => {
  it('resumes through reasoning and a tool call exactly: 20+ cuts inside the arguments, the reassembled call equals the reference', async () => {
    const direct = new TokencastClient({ baseUrl: edge.url });
    const viaProxy = new TokencastClient({ baseUrl: proxy.url, retry: { maxAttempts: 20, initialDelayMs: 20, maxDelayMs: 200 } });
    let midArgs = 0;
    let cuts = 0;
    let runs = 0;
    while (midArgs < 20 && runs < 150) {
      runs++;
      const req = toolRequest(4 + Math.floor(Math.random() * 8));
      const ref = referenceParts(req);
      const { id } = await direct.submit(req);
      if (runs % 2 === 1) for await (const ev of direct.stream(id)) if (ev.type === 'done' || ev.type === 'error') break;
      // Cuts aimed past the reasoning, where the arguments' frames are (about 230 bytes each).
      const argsFrom = 400 + 230 * 12;
      const argsBytes = 240 * 40;
      for (let i = 0, n = 1 + Math.floor(Math.random() * 3); i < n; i++) proxy.arm({ cutAfter: argsFrom / 2 + Math.floor(Math.random() * argsBytes) });
      const reconnectsAt: number[] = [];
      const acc = new MessageAccumulator();
      const offsets: number[] = [];
      let callAt = 0;
      let lastArgsAt = 0;
      for await (const ev of viaProxy.stream(id, { onReconnect: (r) => reconnectsAt.push(r.offset) })) {
        acc.add(ev);
        if (ev.type === 'done' || ev.type === 'error') continue;
        offsets.push(ev.offset);
        if (ev.type === 'tool_call') callAt = ev.offset;
        if (ev.type === 'tool_args') lastArgsAt = ev.offset;
      }
      proxy.disarm();
      const msg = acc.message();
      expect(offsets, `run ${runs} (${id})`).toEqual(offsets.map((_, i) => i + 1));
      expect(msg.toolCalls, `run ${runs} (${id})`).toEqual(ref.toolCalls.map((c) => ({ ...c, input: JSON.parse(c.arguments) })));
      expect(msg.reasoning).toBe(ref.reasoning);
      expect(msg.reasoningSignature).toBe(ref.signature);
      expect(msg.text).toBe('');
      expect(acc.finishReason).toBe('tool_calls');
      expect(acc.usage).toMatchObject({ completion_tokens_details: { reasoning_tokens: ref.usage.completion_tokens_details?.reasoning_tokens } });
      cuts += reconnectsAt.length;
      // A reconnect resuming after offset o lost the connection with the call started and o < the last piece: inside the arguments.
      midArgs += reconnectsAt.filter((o) => o >= callAt && o < lastArgsAt).length;
    }
    expect(midArgs).toBeGreaterThanOrEqual(20);
    console.log(`tool-call resume: ${cuts} cuts over ${runs} streams, ${midArgs} inside the arguments; every call and reasoning exact`);
  }, 90_000);

  it('chat() returns the reassembled answer; toChatMessage() is the next turn, which the edge accepts', async () => {
    const client = new TokencastClient({ baseUrl: edge.url });
    const req = toolRequest(5);
    const ref = referenceParts(req);
    const seen: string[] = [];
    const res = await client.chat(req, { onEvent: (ev) => seen.push(ev.type) });
    expect(res).toMatchObject({ status: 'completed', finishReason: 'tool_calls', text: '', refusal: null, reasoning: ref.reasoning, reasoningSignature: ref.signature });
    expect(res.toolCalls).toEqual(ref.toolCalls.map((c) => ({ ...c, input: JSON.parse(c.arguments) })));
    expect(res.usage?.completion_tokens_details?.reasoning_tokens).toBe(5);
    expect(seen[0]).toBe('reasoning');
    expect(seen).toContain('tool_call');
    expect(seen.at(-1)).toBe('tool_args');
    // The agent's second turn: the call, its result, and the model answers in text.
    const acc = new MessageAccumulator();
    for await (const ev of client.stream(res.id)) acc.add(ev);
    const call = res.toolCalls[0];
    const next = await client.chat({
      model: 'mock',
      messages: [...req.messages, acc.toChatMessage(), { role: 'tool', tool_call_id: call?.id as string, content: '{"ok":true}' }],
      tools: req.tools,
      max_tokens: 8,
    });
    expect(next).toMatchObject({ status: 'completed', toolCalls: [] });
    expect(next.text.length).toBeGreaterThan(0);
  });
});

describe('the rest of the API', () => {
  it('chat() returns the whole text, usage and stats; get() the metadata; models() the catalog', async () => {
    const client = new TokencastClient({ baseUrl: edge.url });
    const req = { ...mockRequest(25), max_tokens: 10 };
    const res = await client.chat(req);
    expect(res.text).toBe(reference(req));
    expect(res).toMatchObject({ status: 'completed', finishReason: 'length', usage: { completion_tokens: 10 } });
    expect(res.stats.firstTokenMs).not.toBeNull();
    const g = await client.get(res.id);
    expect(g).toMatchObject({ id: res.id, status: 'completed', model: 'mock', tokens: 10 });
    expect(g.timings.ttft_ms).toBeGreaterThan(0);
    expect((await client.models()).map((m) => m.id)).toContain('mock');
  });

  it('cancel() ends a live stream with a cancelled done event', async () => {
    const client = new TokencastClient({ baseUrl: edge.url });
    const { id } = await client.submit(mockRequest(5_000));
    let end: StreamEvent | null = null;
    for await (const ev of client.stream(id)) {
      if (ev.type === 'token' && ev.offset === 5) await client.cancel(id);
      if (ev.type !== 'token') end = ev;
    }
    expect(end).toMatchObject({ type: 'done', status: 'cancelled', finishReason: 'cancelled' });
  });

  it('a failed generation ends with an error event; chat() throws GenerationFailedError with the partial text', async () => {
    const client = new TokencastClient({ baseUrl: edge.url });
    const req = mockRequest(50, ' [mock:fail=7]');
    const got = await collect(client.stream(req));
    expect(got.offsets.length).toBeGreaterThan(0);
    expect(got.terminal).toMatchObject({ type: 'error' });
    const err = await client.chat(req).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'GenerationFailedError', code: (got.terminal as { code: string }).code });
    expect((err as { partialText: string }).partialText).toBe(got.text);
  });

  it('with API keys: submit returns a read token that lets a keyless client watch and get; nothing else does', async () => {
    const keyed = await startEmbedded({
      REDIS_URL: redis.url,
      TOKENCAST_KEY_PREFIX: 'sdkauth',
      API_KEYS: 'app:sk-sdk-test-0123456789',
      READ_TOKEN_SECRET: 'sdk-test-secret-0123456789abcdef',
    });
    try {
      const owner = new TokencastClient({ baseUrl: keyed.url, apiKey: 'sk-sdk-test-0123456789' });
      const req = mockRequest(20);
      const sub = await owner.submit(req);
      expect(sub.readToken).toMatch(/\S{20,}/);
      // The owner's own client remembers the token too; the key alone would also do.
      expect((await collect(owner.stream(sub.id))).text).toBe(reference(req));
      const viewer = new TokencastClient({ baseUrl: keyed.url });
      expect((await collect(viewer.stream(sub.id, { readToken: sub.readToken as string }))).text).toBe(reference(req));
      expect(await viewer.get(sub.id, { readToken: sub.readToken as string })).toMatchObject({ id: sub.id, status: 'completed' });
      expect(viewer.eventsUrl(sub.id, sub.readToken)).toContain(`token=${encodeURIComponent(sub.readToken as string)}`);
      const refused = await collect(viewer.stream(sub.id)).catch((e: unknown) => e);
      expect(refused).toMatchObject({ name: 'HttpError', status: 401 });
    } finally {
      await keyed.kill();
    }
  });
});
