import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/backoff.js';
import { parseRetryAfter } from '../src/errors.js';
import { parseFrame } from '../src/frames.js';

describe('parseFrame', () => {
  const chunk = (choice: object) => JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'mock', choices: [choice] });

  it('reads chat and completion tokens, the end, usage, errors and [DONE]', () => {
    expect(parseFrame('1', chunk({ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }))).toEqual({
      kind: 'output',
      event: { type: 'token', offset: 1, text: 'Hi' },
    });
    expect(parseFrame('2', chunk({ index: 0, text: ' there', finish_reason: null }))).toEqual({ kind: 'output', event: { type: 'token', offset: 2, text: ' there' } });
    expect(parseFrame('3', chunk({ index: 0, delta: {}, finish_reason: 'length' }))).toEqual({ kind: 'end', offset: 3, finishReason: 'length' });
    expect(parseFrame(undefined, JSON.stringify({ choices: [], usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 } }))).toEqual({
      kind: 'usage',
      usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
    });
    expect(parseFrame('4', JSON.stringify({ error: { message: 'boom', type: 'server_error', param: null, code: 'upstream_error' } }))).toEqual({
      kind: 'error',
      offset: 4,
      code: 'upstream_error',
      message: 'boom',
    });
    expect(parseFrame(undefined, JSON.stringify({ error: { message: 'gone', code: 'offset_gone' } }))).toMatchObject({ kind: 'error', offset: null });
    expect(parseFrame(undefined, '[DONE]')).toEqual({ kind: 'done' });
  });

  it('reads reasoning (with its signature), tool-call starts, argument pieces, refusals and usage details', () => {
    const at = (id: string, delta: object) => parseFrame(id, chunk({ index: 0, delta, finish_reason: null }));
    expect(at('1', { role: 'assistant', reasoning_content: 'Let me' })).toEqual({ kind: 'output', event: { type: 'reasoning', offset: 1, text: 'Let me' } });
    expect(at('2', { reasoning_content: '', reasoning_signature: 'c2ln' })).toEqual({ kind: 'output', event: { type: 'reasoning', offset: 2, text: '', signature: 'c2ln' } });
    expect(at('3', { reasoning: ' think' })).toEqual({ kind: 'output', event: { type: 'reasoning', offset: 3, text: ' think' } });
    expect(at('4', { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] })).toEqual({
      kind: 'output',
      event: { type: 'tool_call', offset: 4, index: 0, id: 'call_1', name: 'get_weather' },
    });
    expect(at('5', { tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] })).toEqual({ kind: 'output', event: { type: 'tool_args', offset: 5, index: 0, args: '{"ci' } });
    expect(at('6', { refusal: 'No.' })).toEqual({ kind: 'output', event: { type: 'refusal', offset: 6, text: 'No.' } });
    expect(() => at('7', { tool_calls: [{ function: { arguments: 'x' } }] })).toThrow(/no index/);
    const usage = { prompt_tokens: 2, completion_tokens: 9, total_tokens: 11, prompt_tokens_details: { cached_tokens: 1 }, completion_tokens_details: { reasoning_tokens: 4 } };
    expect(parseFrame(undefined, JSON.stringify({ choices: [], usage }))).toEqual({ kind: 'usage', usage });
  });

  it('refuses ids that are not offsets and data that is not JSON', () => {
    for (const id of ['-1', '1.5', '01', 'abc', '1e3']) expect(() => parseFrame(id, chunk({ delta: { content: 'x' }, finish_reason: null }))).toThrow(/offset/);
    expect(() => parseFrame('1', '{"choices": [')).toThrow(expect.objectContaining({ code: 'protocol_error' }));
  });
});

describe('backoff', () => {
  it('grows exponentially to the cap, with full jitter', () => {
    const p = { maxAttempts: 10, initialDelayMs: 100, maxDelayMs: 1_000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(p, a, () => 1))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(backoffDelay(p, 3, () => 0)).toBe(0);
    expect(backoffDelay(p, 3, () => 0.5)).toBe(200);
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('2')).toBe(2_000);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    const ms = parseRetryAfter(new Date(Date.now() + 5_000).toUTCString()) as number;
    expect(ms).toBeGreaterThan(3_000);
    expect(ms).toBeLessThanOrEqual(5_000);
  });
});
