import { createMemoryEngine } from '@tokencast/engine';
import { accumulateParts, type GenerationRequest, newGenerationId, parseChatRequest, parseCompletionRequest, queuedMeta } from '@tokencast/protocol';
import { describe, expect, it } from 'vitest';
import { GenerationWriter, MockProvider, mockNaturalLength, mockOutput, mockText, type ProviderEvent, UpstreamError } from '../src/index.js';
import { PriorOutput } from '../src/writer.js';

const limits = { maxTokensCap: 1_000_000, maxPromptChars: 100_000 };
const chat = (content: string, extra: Record<string, unknown> = {}) => parseChatRequest({ model: 'mock', messages: [{ role: 'user', content }], ...extra }, limits);

// Fast enough that a test never waits on the schedule.
const fast = new MockProvider({ tokensPerSecond: 1_000_000, ttftMs: 0 });

async function run(provider: MockProvider, req: GenerationRequest, opts: { resumeTokens?: number; resumeMarkers?: number; signal?: AbortSignal } = {}) {
  const events: ProviderEvent[] = [];
  for await (const ev of provider.generate(req, {
    signal: opts.signal ?? new AbortController().signal,
    resumeTokens: opts.resumeTokens ?? 0,
    resumeText: '',
    resumeMarkers: opts.resumeMarkers ?? 0,
  }))
    events.push(ev);
  const tokens = events.filter((e): e is Extract<ProviderEvent, { type: 'text' }> => e.type === 'text');
  return { events, text: tokens.map((t) => t.text).join(''), tokens: tokens.length, end: events.find((e) => e.type === 'end') };
}

describe('mock model', () => {
  it('is deterministic: the same prompt gives the same text, other prompts other texts', () => {
    const a = mockText(chat('tell me about streams'));
    expect(mockText(chat('tell me about streams'))).toEqual(a);
    expect(mockText(chat('tell me about rivers')).text).not.toBe(a.text);
    expect(a.tokens).toBeGreaterThanOrEqual(64);
    expect(a.tokens).toBeLessThan(512);
    expect(a.finishReason).toBe('stop');
    // The text depends on the prompt only, not on the request's kind or stream flag.
    expect(mockText(parseCompletionRequest({ model: 'mock', prompt: 'tell me about streams' }, limits))).toEqual(a);
    expect(mockText(chat('tell me about streams', { stream: true }))).toEqual(a);
  });

  it('natural lengths spread over 64..511 tokens', () => {
    const lengths = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const n = mockNaturalLength(`prompt ${i}`);
      expect(n).toBeGreaterThanOrEqual(64);
      expect(n).toBeLessThanOrEqual(511);
      lengths.add(n);
    }
    expect(lengths.size).toBeGreaterThan(100);
  });

  it('mockText is exactly what the MockProvider yields, with the same end', async () => {
    for (const prompt of ['hello', 'a longer prompt about cursors and fences', '[mock:len=1]', '[mock:len=300] x']) {
      const req = chat(prompt);
      const ref = mockText(req);
      const got = await run(fast, req);
      expect(got.text).toBe(ref.text);
      expect(got.tokens).toBe(ref.tokens);
      expect(got.events[got.events.length - 1]).toEqual({ type: 'end', finishReason: 'stop', usage: { prompt_tokens: expect.any(Number), completion_tokens: ref.tokens } });
    }
  });

  it('[mock:len=N] sets the natural length', async () => {
    expect(mockText(chat('[mock:len=5]')).tokens).toBe(5);
    expect(mockText(chat('x [mock:len=1234] y')).tokens).toBe(1234);
    expect((await run(fast, chat('[mock:len=17]'))).tokens).toBe(17);
    // Out-of-range values are clamped, not trusted.
    expect(mockNaturalLength('[mock:len=0]')).toBe(1);
    expect(mockNaturalLength('[mock:len=9999999]')).toBe(1_000_000);
  });

  it('max_tokens below the natural length stops early with finish_reason length', async () => {
    const req = chat('[mock:len=20]', { max_tokens: 7 });
    const ref = mockText(req);
    expect(ref).toMatchObject({ tokens: 7, finishReason: 'length' });
    expect(mockText(chat('[mock:len=20]')).text.startsWith(ref.text)).toBe(true);
    const got = await run(fast, req);
    expect(got.text).toBe(ref.text);
    expect(got.end).toMatchObject({ type: 'end', finishReason: 'length', usage: { completion_tokens: 7 } });
    // max_tokens at or above the natural length: a normal stop.
    expect(mockText(chat('[mock:len=20]', { max_tokens: 20 }))).toMatchObject({ tokens: 20, finishReason: 'stop' });
    expect((await run(fast, chat('[mock:len=20]', { max_tokens: 50 }))).end).toMatchObject({ finishReason: 'stop' });
  });

  it('[mock:fail=N] fails with an upstream error after N tokens', async () => {
    const req = chat('[mock:len=50][mock:fail=4]');
    const seen: string[] = [];
    let caught: unknown;
    try {
      for await (const ev of fast.generate(req, { signal: new AbortController().signal, resumeTokens: 0, resumeText: '' })) if (ev.type === 'text') seen.push(ev.text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UpstreamError);
    expect((caught as UpstreamError).code).toBe('upstream_error');
    expect(seen).toHaveLength(4);
    // The tokens before the failure are the reference text's first ones.
    expect(mockText(req).text.startsWith(seen.join(''))).toBe(true);
  });

  it('continues a reclaimed generation exactly where it stopped', async () => {
    const req = chat('[mock:len=40] resume me');
    const ref = mockText(req);
    const head = await run(fast, chat('[mock:len=40] resume me', { max_tokens: 15 }));
    const tail = await run(fast, req, { resumeTokens: 15 });
    expect(tail.tokens).toBe(25);
    expect(head.text + tail.text).toBe(ref.text);
    expect(tail.end).toMatchObject({ finishReason: 'stop', usage: { completion_tokens: 40 } });
  });

  it('paces tokens and stops, without an end, when aborted', async () => {
    const slow = new MockProvider({ tokensPerSecond: 100, ttftMs: 0 });
    const ac = new AbortController();
    const started = performance.now();
    setTimeout(() => ac.abort(), 150);
    const got = await run(slow, chat('[mock:len=1000]'), { signal: ac.signal });
    const elapsed = performance.now() - started;
    expect(got.end).toBeUndefined();
    // ~15 tokens in 150 ms at 100/s; generous bounds for a busy machine.
    expect(got.tokens).toBeGreaterThan(3);
    expect(got.tokens).toBeLessThan(200);
    expect(elapsed).toBeLessThan(3_000);
  });

  const weather = {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 }, unit: { type: 'string', enum: ['c', 'f'] }, hourly: { type: 'boolean' } },
    required: ['city', 'days'],
  };
  const tools = [
    { type: 'function', function: { name: 'get_weather', parameters: weather } },
    { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] } } },
  ];

  it('calls a tool when tool_choice requires it: one start, the arguments in several pieces, finish tool_calls', async () => {
    const req = chat('weather please', { tools, tool_choice: 'required' });
    const got = await run(fast, req);
    const [start, ...rest] = got.events;
    expect(start).toEqual({ type: 'tool_call', index: 0, id: expect.stringMatching(/^call_[0-9a-f]{16}$/), name: 'get_weather' });
    const pieces = rest.filter((e): e is Extract<ProviderEvent, { type: 'tool_args' }> => e.type === 'tool_args');
    expect(pieces.length).toBeGreaterThan(2);
    const args = JSON.parse(pieces.map((p) => p.args).join(''));
    expect(args).toEqual({ city: expect.any(String), days: expect.any(Number), unit: expect.stringMatching(/^[cf]$/), hourly: expect.any(Boolean) });
    expect(Number.isInteger(args.days) && args.days >= 1 && args.days <= 7).toBe(true);
    expect(got.end).toMatchObject({ finishReason: 'tool_calls', usage: { completion_tokens: pieces.length } });
    // The reference is exactly what was streamed; the same request always calls the same way.
    expect(mockOutput(req)).toEqual({
      parts: [{ type: 'tool_call', index: 0, id: (start as { id: string }).id, name: 'get_weather', arguments: pieces.map((p) => p.args).join('') }],
      finishReason: 'tool_calls',
      usage: { prompt_tokens: 2, completion_tokens: pieces.length },
    });
    expect(mockOutput(chat('weather please', { tools, tool_choice: 'required' }))).toEqual(mockOutput(req));
  });

  it('picks the named tool; [mock:tool] calls the first under auto, once per turn; none and no tools mean text', () => {
    const named = mockOutput(chat('time?', { tools, tool_choice: { type: 'function', function: { name: 'get_time' } } }));
    expect(named.parts).toEqual([expect.objectContaining({ type: 'tool_call', name: 'get_time' })]);
    expect(JSON.parse((named.parts[0] as { arguments: string }).arguments)).toEqual({ zone: expect.any(String) });
    expect(mockOutput(chat('go [mock:tool]', { tools })).parts[0]).toMatchObject({ type: 'tool_call', name: 'get_weather' });
    expect(mockOutput(chat('go', { tools })).parts).toEqual([{ type: 'text', text: expect.any(String) }]);
    expect(mockOutput(chat('go [mock:tool]', { tools, tool_choice: 'none' })).parts[0]?.type).toBe('text');
    expect(mockOutput(chat('go [mock:tool]')).parts[0]?.type).toBe('text');
    const second = parseChatRequest(
      {
        model: 'mock',
        tools,
        messages: [
          { role: 'user', content: 'go [mock:tool]' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        ],
      },
      limits,
    );
    expect(mockOutput(second)).toMatchObject({ parts: [{ type: 'text' }], finishReason: 'stop' });
  });

  it('reasons first (mock-reasoning, [mock:reasoning], reasoning_effort), signs its reasoning, then answers', async () => {
    const req = parseChatRequest({ model: 'mock-reasoning', messages: [{ role: 'user', content: '[mock:len=5] think' }] }, limits);
    const got = await run(fast, req);
    const kinds = got.events.map((e) => e.type);
    const r = kinds.lastIndexOf('reasoning');
    expect(kinds.slice(0, r + 1).every((k) => k === 'reasoning')).toBe(true);
    expect(kinds.slice(r + 1)).toEqual(['reasoning_signature', 'text', 'text', 'text', 'text', 'text', 'end']);
    const ref = mockOutput(req);
    expect(ref.parts).toEqual([
      { type: 'reasoning', text: expect.stringMatching(/^[A-Z]/), signature: expect.any(String) },
      { type: 'text', text: got.text },
    ]);
    expect(got.end).toMatchObject({ finishReason: 'stop', usage: { completion_tokens: r + 1 + 5, completion_tokens_details: { reasoning_tokens: r + 1 } } });
    expect(mockOutput(chat('[mock:reasoning=3] x')).parts[0]).toMatchObject({ type: 'reasoning' });
    expect(mockOutput(chat('x', { reasoning_effort: 'high' })).parts[0]?.type).toBe('reasoning');
    expect(mockOutput(chat('x', { reasoning_effort: 'none' })).parts[0]?.type).toBe('text');
  });

  it("writes JSON for response_format: the schema's properties, or an object for json_object", () => {
    const schema = mockOutput(chat('json', { response_format: { type: 'json_schema', json_schema: { name: 'w', schema: weather } } }));
    expect(schema.parts).toHaveLength(1);
    expect(JSON.parse((schema.parts[0] as { text: string }).text)).toMatchObject({ city: expect.any(String), days: expect.any(Number) });
    const obj = mockOutput(chat('json', { response_format: { type: 'json_object' } }));
    expect(JSON.parse((obj.parts[0] as { text: string }).text)).toEqual({ answer: expect.any(String) });
  });

  it('logprobs when asked: one entry per token, with the alternatives asked for', async () => {
    const got = await run(fast, chat('[mock:len=3] lp', { logprobs: true, top_logprobs: 2 }));
    const texts = got.events.filter((e): e is Extract<ProviderEvent, { type: 'text' }> => e.type === 'text');
    for (const t of texts) {
      expect(t.logprobs).toEqual([
        { token: t.text, logprob: expect.any(Number), bytes: [...Buffer.from(t.text)], top_logprobs: [expect.objectContaining({ token: t.text }), expect.any(Object)] },
      ]);
      expect((t.logprobs?.[0]?.logprob ?? 0) <= 0).toBe(true);
    }
    expect((await run(fast, chat('[mock:len=3] lp'))).events.some((e) => e.type === 'text' && e.logprobs)).toBe(false);
  });

  it('resumes exactly from any step of a reasoning + tool call script, through the real writer', async () => {
    const req = parseChatRequest({ model: 'mock-reasoning', messages: [{ role: 'user', content: '[mock:reasoning=4] call' }], tools, tool_choice: 'required' }, limits);
    const all = (await run(fast, req)).events;
    for (let k = 0; k < all.length - 1; k++) {
      // A producer that wrote the first k steps, then a new one that continues from what is stored.
      const engine = createMemoryEngine();
      const meta = queuedMeta(newGenerationId(), req);
      await engine.queue.enqueue(meta);
      const a = await engine.store.claim(meta.id, 'p1');
      const w1 = new GenerationWriter(engine.store, meta.id, a?.fence as number, meta.createdAt, 0, 0, { retryBudgetMs: 1000 });
      for (const ev of all.slice(0, k)) if (ev.type !== 'end') w1.push(ev);
      await new Promise((r) => setTimeout(r, 5));
      const prior = new PriorOutput();
      for (const e of await engine.store.readEvents(meta.id, 0, 1000)) prior.add(e);
      const b = await engine.store.claim(meta.id, 'p2');
      const m2 = await engine.store.getMeta(meta.id);
      const w2 = new GenerationWriter(engine.store, meta.id, b?.fence as number, meta.createdAt, m2?.lastOffset ?? 0, 0, { retryBudgetMs: 1000 }, prior);
      const rest = await run(fast, req, { resumeTokens: prior.tokens, resumeMarkers: prior.markers });
      for (const ev of rest.events) if (ev.type !== 'end') w2.push(ev);
      await w2.end({ kind: 'end', status: 'completed', finishReason: 'tool_calls', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, error: null });
      const stored = await engine.store.readEvents(meta.id, 0, 1000);
      const parts = accumulateParts(stored);
      const ref = mockOutput(req).parts;
      expect(
        parts.map((p) =>
          p.type === 'tool_call'
            ? { type: p.type, id: p.callId, name: p.name, arguments: p.arguments }
            : p.type === 'reasoning'
              ? { type: p.type, text: p.text, signature: p.signature }
              : p,
        ),
        `resumed after ${k} steps`,
      ).toEqual(ref.map((p) => (p.type === 'tool_call' ? { type: p.type, id: p.id, name: p.name, arguments: p.arguments } : p)));
      expect(stored[stored.length - 1]).toMatchObject({ kind: 'end', parts: 2 });
      await engine.close();
    }
  });
});
