import { type GenerationRequest, parseChatRequest, parseCompletionRequest } from '@tokencast/protocol';
import { describe, expect, it } from 'vitest';
import { MockProvider, mockNaturalLength, mockText, type ProviderEvent, UpstreamError } from '../src/index.js';

const limits = { maxTokensCap: 1_000_000, maxPromptChars: 100_000 };
const chat = (content: string, extra: Record<string, unknown> = {}) => parseChatRequest({ model: 'mock', messages: [{ role: 'user', content }], ...extra }, limits);

// Fast enough that a test never waits on the schedule.
const fast = new MockProvider({ tokensPerSecond: 1_000_000, ttftMs: 0 });

async function run(provider: MockProvider, req: GenerationRequest, opts: { resumeTokens?: number; signal?: AbortSignal } = {}) {
  const events: ProviderEvent[] = [];
  for await (const ev of provider.generate(req, { signal: opts.signal ?? new AbortController().signal, resumeTokens: opts.resumeTokens ?? 0, resumeText: '' })) events.push(ev);
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
});
