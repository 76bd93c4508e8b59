import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/backoff.js';
import { parseRetryAfter } from '../src/errors.js';
import { parseFrame } from '../src/frames.js';

describe('parseFrame', () => {
  const chunk = (choice: object) => JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'mock', choices: [choice] });

  it('reads chat and completion tokens, the end, usage, errors and [DONE]', () => {
    expect(parseFrame('1', chunk({ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }))).toEqual({ kind: 'token', offset: 1, text: 'Hi' });
    expect(parseFrame('2', chunk({ index: 0, text: ' there', finish_reason: null }))).toEqual({ kind: 'token', offset: 2, text: ' there' });
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
