import { describe, expect, it } from 'vitest';
import { accumulateParts, anthropicMessage, completeResponse, type EndEvent, encodeAnthropicEvent, eventPayloads, type StoredEvent, type WireContext } from '../src/index.js';

const usage = { prompt_tokens: 3, completion_tokens: 9, total_tokens: 12, completion_tokens_details: { reasoning_tokens: 2 } };
const end = (offset: number, parts: number, finishReason: EndEvent['finishReason'] = 'tool_calls'): EndEvent => ({
  offset,
  kind: 'end',
  status: 'completed',
  finishReason,
  usage,
  error: null,
  ms: 40,
  timings: null,
  parts,
});

/** reasoning (part 0, with a signature), text (part 1), a tool call (part 2), the end. */
const events: StoredEvent[] = [
  { offset: 1, kind: 'reasoning', text: 'Let me', tokens: 2, ms: [5, 6], start: true },
  { offset: 2, kind: 'reasoning', text: '', tokens: 0, ms: [], signature: 'sig==' },
  { offset: 3, kind: 'token', text: 'Calling.', tokens: 1, ms: [7], part: 1, start: true, logprobs: [{ token: 'Calling.', logprob: -0.5, bytes: null, top_logprobs: [] }] },
  { offset: 4, kind: 'tool_call', part: 2, start: true, index: 0, callId: 'call_1', name: 'get_weather', ms: 8 },
  { offset: 5, kind: 'tool_args', part: 2, start: false, index: 0, args: '{"city":', tokens: 2, ms: [9, 9] },
  { offset: 6, kind: 'tool_args', part: 2, start: false, index: 0, args: '"Oslo"}', tokens: 1, ms: [10] },
  end(7, 3),
];

const ctx: WireContext = { id: 'gen_abcdefghijklmnopqrstuvwxyz', kind: 'chat', model: 'mock', created: 1_700_000_000, includeUsage: true };

describe('typed stored events', () => {
  it('accumulates parts in part order', () => {
    expect(accumulateParts(events)).toEqual([
      { type: 'reasoning', part: 0, text: 'Let me', signature: 'sig==' },
      { type: 'text', part: 1, text: 'Calling.', logprobs: [{ token: 'Calling.', logprob: -0.5, bytes: null, top_logprobs: [] }] },
      { type: 'tool_call', part: 2, index: 0, callId: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
    ]);
  });
});

describe('OpenAI chat encoding of typed events', () => {
  const deltas = events.map((ev) => eventPayloads(ctx, ev).map((p) => (p === '[DONE]' ? p : JSON.parse(p))));
  it('reasoning_content, content, tool_calls pieces; role on the first event only', () => {
    expect(deltas[0]?.[0].choices[0].delta).toEqual({ role: 'assistant', reasoning_content: 'Let me' });
    expect(deltas[1]?.[0].choices[0].delta).toEqual({ reasoning_content: '', reasoning_signature: 'sig==' });
    expect(deltas[2]?.[0].choices[0]).toMatchObject({ delta: { content: 'Calling.' }, logprobs: { content: [{ token: 'Calling.', logprob: -0.5 }], refusal: null } });
    expect(deltas[3]?.[0].choices[0].delta).toEqual({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] });
    expect(deltas[4]?.[0].choices[0].delta).toEqual({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] });
    expect(deltas[6]?.[0].choices[0]).toMatchObject({ delta: {}, finish_reason: 'tool_calls' });
    expect(deltas[6]?.[1]).toMatchObject({ choices: [], usage });
    expect(deltas[6]?.[2]).toBe('[DONE]');
  });

  it('the non-streaming completion carries tool_calls and reasoning_content', () => {
    const res = completeResponse(ctx, events, end(7, 3)) as { choices: { message: unknown; finish_reason: string }[] };
    expect(res.choices[0]?.message).toEqual({
      role: 'assistant',
      content: 'Calling.',
      reasoning_content: 'Let me',
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
    });
    expect(res.choices[0]?.finish_reason).toBe('tool_calls');
  });
});

describe('Anthropic encoding of typed events', () => {
  function frames(sse: string): { event: string; data: Record<string, unknown> }[] {
    return sse
      .split('\n\n')
      .filter((b) => b.includes('event: '))
      .map((b) => ({ event: /event: (\S+)/.exec(b)?.[1] as string, data: JSON.parse(/data: (.*)/.exec(b)?.[1] as string) }));
  }
  const all = events.flatMap((ev) => frames(encodeAnthropicEvent(ev)));

  it('one content block per part: thinking + signature, text, tool_use with input_json_delta; stop_reason tool_use', () => {
    expect(all.map((f) => `${f.event}${'index' in f.data ? `:${f.data.index}` : ''}`)).toEqual([
      'content_block_start:0',
      'content_block_delta:0',
      'content_block_delta:0',
      'content_block_stop:0',
      'content_block_start:1',
      'content_block_delta:1',
      'content_block_stop:1',
      'content_block_start:2',
      'content_block_delta:2',
      'content_block_delta:2',
      'content_block_stop:2',
      'message_delta',
      'message_stop',
    ]);
    expect(all[0]?.data.content_block).toEqual({ type: 'thinking', thinking: '', signature: '' });
    expect(all[1]?.data.delta).toEqual({ type: 'thinking_delta', thinking: 'Let me' });
    expect(all[2]?.data.delta).toEqual({ type: 'signature_delta', signature: 'sig==' });
    expect(all[7]?.data.content_block).toEqual({ type: 'tool_use', id: 'call_1', name: 'get_weather', input: {} });
    expect(all[8]?.data.delta).toEqual({ type: 'input_json_delta', partial_json: '{"city":' });
    expect(all[11]?.data.delta).toMatchObject({ stop_reason: 'tool_use' });
  });

  it('each stored event starts with its offset as the SSE id', () => {
    for (const ev of events) expect(encodeAnthropicEvent(ev).startsWith(`id: ${ev.offset}\n`)).toBe(true);
  });

  it('the non-streaming message has thinking, text and tool_use blocks', () => {
    const msg = anthropicMessage({ id: ctx.id, model: 'mock', inputTokens: 3 }, events, end(7, 3));
    expect(msg.content).toEqual([
      { type: 'thinking', thinking: 'Let me', signature: 'sig==' },
      { type: 'text', text: 'Calling.' },
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Oslo' } },
    ]);
    expect(msg.stop_reason).toBe('tool_use');
  });
});
