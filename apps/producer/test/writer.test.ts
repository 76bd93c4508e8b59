import { createMemoryEngine, FencedError, type GenerationStore, type NewEvent, StoreUnavailableError } from '@tokencast/engine';
import { type GenerationMeta, newGenerationId, queuedMeta, type StoredEvent, type TokenEvent } from '@tokencast/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { GenerationWriter } from '../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function meta(): GenerationMeta {
  return queuedMeta(newGenerationId(), {
    kind: 'chat',
    model: 'mock',
    messages: [{ role: 'user', content: 'x' }],
    prompt: '',
    maxTokens: null,
    stream: true,
    includeUsage: false,
    params: {},
  });
}

const engines: ReturnType<typeof createMemoryEngine>[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

/** A real (memory) store behind a wrapper that delays every append and records the batches. */
async function setup(delayMs: number, opts: { loseFirstReply?: boolean } = {}) {
  const engine = createMemoryEngine();
  engines.push(engine);
  const m = meta();
  await engine.queue.enqueue(m);
  const claim = await engine.store.claim(m.id, 'p1');
  const batches: NewEvent[][] = [];
  let lose = opts.loseFirstReply === true;
  const store: GenerationStore = {
    ...engine.store,
    async append(id, fence, after, events) {
      await sleep(delayMs);
      batches.push([...events]);
      const res = await engine.store.append(id, fence, after, events);
      if (lose) {
        // Applied, but the caller never hears back: it must retry without duplicating.
        lose = false;
        throw new StoreUnavailableError(new Error('reply lost'));
      }
      return res;
    },
  };
  const writer = new GenerationWriter(store, m.id, claim?.fence as number, m.createdAt, 0, 0, { retryBudgetMs: 5_000 });
  return { engine, id: m.id, writer, batches, fence: claim?.fence as number };
}

/** Feeds `n` one-word tokens at a steady pace (every `everyMs`), then ends the generation. */
async function produce(writer: GenerationWriter, n: number, everyMs: number): Promise<string> {
  let text = '';
  for (let i = 0; i < n; i++) {
    const t = ` w${i}`;
    text += t;
    writer.write(t, 1);
    if (everyMs > 0 && i % 5 === 4) await sleep(everyMs * 5);
  }
  await writer.end({ kind: 'end', status: 'completed', finishReason: 'stop', usage: { prompt_tokens: 1, completion_tokens: n, total_tokens: n + 1 }, error: null });
  return text;
}

function check(events: StoredEvent[], text: string, n: number) {
  expect(events.map((e) => e.offset)).toEqual(events.map((_, i) => i + 1));
  const tokens = events.filter((e): e is TokenEvent => e.kind === 'token');
  expect(tokens.map((t) => t.text).join('')).toBe(text);
  expect(tokens.reduce((a, t) => a + t.tokens, 0)).toBe(n);
  for (const t of tokens) expect(t.ms).toHaveLength(t.tokens);
  // Exactly one end, and it is the last event.
  expect(events.filter((e) => e.kind === 'end')).toHaveLength(1);
  expect(events[events.length - 1]?.kind).toBe('end');
}

describe('GenerationWriter', () => {
  it('coalesces: a slow store gets fewer, larger events; the text is intact and the end comes last', async () => {
    const n = 200;
    const quick = await setup(0);
    const quickText = await produce(quick.writer, n, 2);
    const quickEvents = await quick.engine.store.readEvents(quick.id, 0, 10_000);
    check(quickEvents, quickText, n);

    const slow = await setup(40);
    const slowText = await produce(slow.writer, n, 2);
    const slowEvents = await slow.engine.store.readEvents(slow.id, 0, 10_000);
    check(slowEvents, slowText, n);
    expect(slowText).toBe(quickText);

    // ~400 ms of tokens against 40 ms appends: at most a dozen or so appends, not 200.
    expect(slowEvents.length).toBeLessThan(40);
    expect(slowEvents.length).toBeLessThan(quickEvents.length);
    const maxTokens = Math.max(...slowEvents.map((e) => (e.kind === 'token' ? e.tokens : 0)));
    expect(maxTokens).toBeGreaterThan(5);
    // One append in flight at a time: batches are appended in order, each after the previous.
    expect(slow.batches.flat()).toHaveLength(slowEvents.length);
    expect(await slow.engine.store.getMeta(slow.id)).toMatchObject({ status: 'completed', tokens: n, lastOffset: slowEvents.length });
  });

  it('a burst written at once: the first token goes out alone (time to first token), the rest as one event, then the end', async () => {
    const { engine, id, writer, batches } = await setup(5);
    const text = await produce(writer, 50, 0);
    const events = await engine.store.readEvents(id, 0, 100);
    check(events, text, 50);
    expect(events.length).toBeLessThanOrEqual(3);
    expect(batches.length).toBeLessThanOrEqual(3);
    expect(events[0]).toMatchObject({ kind: 'token', tokens: 1 });
  });

  it('retries an append whose reply was lost without duplicating anything', async () => {
    const { engine, id, writer } = await setup(1, { loseFirstReply: true });
    const text = await produce(writer, 30, 1);
    const events = await engine.store.readEvents(id, 0, 100);
    check(events, text, 30);
  });

  it('stops the model with FencedError once another producer owns the generation', async () => {
    const { engine, id, writer } = await setup(1);
    writer.write('a', 1);
    await sleep(30);
    await engine.store.claim(id, 'p2');
    writer.write('b', 1);
    await sleep(30);
    expect(() => writer.write('c', 1)).toThrow(FencedError);
    await expect(
      writer.end({ kind: 'end', status: 'completed', finishReason: 'stop', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, error: null }),
    ).rejects.toBeInstanceOf(FencedError);
    const events = await engine.store.readEvents(id, 0, 100);
    expect(events.map((e) => (e.kind === 'token' ? e.text : 'END'))).toEqual(['a']);
  });

  it('numbers parts, marks their first events, coalesces only consecutive deltas of one part, never merges a tool call', async () => {
    const { engine, id, writer } = await setup(20);
    writer.push({ type: 'reasoning', text: 'Think', tokens: 1 });
    writer.push({ type: 'reasoning', text: 'ing', tokens: 1 });
    writer.push({ type: 'reasoning', text: ' more', tokens: 1 });
    writer.push({ type: 'reasoning_signature', signature: 'sig' });
    writer.push({ type: 'text', text: 'OK', tokens: 1 });
    writer.push({ type: 'tool_call', index: 0, id: 'call_a', name: 'f' });
    writer.push({ type: 'tool_args', index: 0, args: '{"a"' });
    writer.push({ type: 'tool_call', index: 1, id: 'call_b', name: 'g' });
    writer.push({ type: 'tool_args', index: 1, args: '{}' });
    writer.push({ type: 'tool_args', index: 0, args: ':1}' }); // interleaved: names its own part
    // Clients see the generic upstream_error; what went wrong is kept for the log (#14 item 5).
    expect(() => writer.push({ type: 'tool_args', index: 7, args: '{}' })).toThrow(
      expect.objectContaining({ code: 'upstream_error', detail: expect.stringMatching(/before starting it/) }),
    );
    await writer.end({ kind: 'end', status: 'completed', finishReason: 'tool_calls', usage: { prompt_tokens: 1, completion_tokens: 8, total_tokens: 9 }, error: null });
    const events = await engine.store.readEvents(id, 0, 100);
    expect(events.map((e) => e.offset)).toEqual(events.map((_, i) => i + 1));
    // The first reasoning token went out alone (an append was idle); the rest waited and merged.
    expect(events).toEqual([
      { offset: 1, kind: 'reasoning', text: 'Think', tokens: 1, ms: [expect.any(Number)] }, // offset 1: its start is implicit (startsPart), not stored
      { offset: 2, kind: 'reasoning', text: 'ing more', tokens: 2, ms: [expect.any(Number), expect.any(Number)] },
      { offset: 3, kind: 'reasoning', text: '', tokens: 0, ms: [], signature: 'sig' },
      { offset: 4, kind: 'token', text: 'OK', tokens: 1, ms: [expect.any(Number)], part: 1, start: true },
      { offset: 5, kind: 'tool_call', part: 2, start: true, index: 0, callId: 'call_a', name: 'f', ms: expect.any(Number) },
      { offset: 6, kind: 'tool_args', part: 2, start: false, index: 0, args: '{"a"', tokens: 1, ms: [expect.any(Number)] },
      { offset: 7, kind: 'tool_call', part: 3, start: true, index: 1, callId: 'call_b', name: 'g', ms: expect.any(Number) },
      { offset: 8, kind: 'tool_args', part: 3, start: false, index: 1, args: '{}', tokens: 1, ms: [expect.any(Number)] },
      { offset: 9, kind: 'tool_args', part: 2, start: false, index: 0, args: ':1}', tokens: 1, ms: [expect.any(Number)] },
      expect.objectContaining({ offset: 10, kind: 'end', parts: 4 }),
    ]);
    expect(writer.tokens).toBe(7);
    expect(writer.reasoningTokens).toBe(3);
  });

  it('a redacted thinking block is a reasoning part of its own; thinking after it opens the next part', async () => {
    const { engine, id, writer } = await setup(0);
    writer.push({ type: 'reasoning_redacted', data: 'EnCrYpTeD' });
    writer.push({ type: 'reasoning', text: 'visible', tokens: 1 });
    await writer.end({ kind: 'end', status: 'completed', finishReason: 'stop', usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }, error: null });
    const events = await engine.store.readEvents(id, 0, 100);
    expect(events).toEqual([
      { offset: 1, kind: 'reasoning', text: '', tokens: 0, ms: [], redacted: 'EnCrYpTeD' },
      { offset: 2, kind: 'reasoning', text: 'visible', tokens: 1, ms: [expect.any(Number)], part: 1, start: true },
      expect.objectContaining({ offset: 3, kind: 'end', parts: 2 }),
    ]);
  });
});
