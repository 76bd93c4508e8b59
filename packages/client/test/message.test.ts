import { describe, expect, it } from 'vitest';
import { finishToolCall, MessageAccumulator, type StreamEvent } from '../src/index.js';

const stats = { reconnects: 0, tokenEvents: 0, firstTokenMs: null, durationMs: 0 };

describe('MessageAccumulator', () => {
  it('reassembles reasoning with its signature, text, a refusal and interleaved parallel tool calls by index', () => {
    const events: StreamEvent[] = [
      { type: 'reasoning', offset: 1, text: 'Two ' },
      { type: 'reasoning', offset: 2, text: 'lookups.' },
      { type: 'reasoning', offset: 3, text: '', signature: 'c2ln' },
      { type: 'token', offset: 4, text: 'On it' },
      { type: 'tool_call', offset: 5, index: 0, id: 'call_a', name: 'get_weather' },
      { type: 'tool_call', offset: 6, index: 1, id: 'call_b', name: 'get_time' },
      // An upstream that streams parallel calls may interleave their pieces.
      { type: 'tool_args', offset: 7, index: 1, args: '{"tz":' },
      { type: 'tool_args', offset: 8, index: 0, args: '{"city":"Par' },
      { type: 'tool_args', offset: 9, index: 1, args: '"UTC"}' },
      { type: 'tool_args', offset: 10, index: 0, args: 'is"}' },
      { type: 'refusal', offset: 11, text: 'Not that.' },
      { type: 'done', offset: 12, status: 'completed', finishReason: 'tool_calls', usage: { prompt_tokens: 3, completion_tokens: 9, total_tokens: 12 }, stats },
    ];
    const acc = new MessageAccumulator();
    for (const ev of events) acc.add(ev);
    expect(acc.message()).toEqual({
      text: 'On it',
      reasoning: 'Two lookups.',
      reasoningSignature: 'c2ln',
      reasoningRedacted: null,
      refusal: 'Not that.',
      toolCalls: [
        { index: 0, id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}', input: { city: 'Paris' } },
        { index: 1, id: 'call_b', name: 'get_time', arguments: '{"tz":"UTC"}', input: { tz: 'UTC' } },
      ],
    });
    expect(acc).toMatchObject({ ended: true, finishReason: 'tool_calls', usage: { total_tokens: 12 } });
    expect(acc.toChatMessage()).toEqual({
      role: 'assistant',
      content: 'On it',
      reasoning_content: 'Two lookups.',
      tool_calls: [
        { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } },
      ],
    });
  });

  it('a call without text is content null in the next turn; arguments cut short leave input undefined; empty ones are {}', () => {
    const acc = new MessageAccumulator();
    acc.add({ type: 'tool_call', offset: 1, index: 0, id: 'c', name: 'f' });
    expect(acc.toChatMessage()).toMatchObject({ role: 'assistant', content: null });
    expect(finishToolCall({ index: 0, id: 'c', name: 'f', arguments: '' }).input).toEqual({});
    expect(finishToolCall({ index: 0, id: 'c', name: 'f', arguments: '{"city":"Pa' }).input).toBeUndefined();
    acc.add({ type: 'error', offset: 2, code: 'upstream_error', message: 'x', stats });
    expect(acc).toMatchObject({ ended: true, finishReason: null });
  });
});
