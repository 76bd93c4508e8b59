import { describe, expect, it } from 'vitest';
import { AFTER_END_FRAME, completeResponse, type EndEvent, encodeSseEvent, HEARTBEAT_FRAME, type TokenEvent, type WireContext } from '../src/index.js';

const chatCtx: WireContext = { id: 'gen_abcdefghijklmnopqrstuvwxyz', kind: 'chat', model: 'mock', created: 1_700_000_000, includeUsage: false };
const textCtx: WireContext = { ...chatCtx, kind: 'completion' };
const usage = { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 };

const token = (offset: number, text: string): TokenEvent => ({ offset, kind: 'token', text, tokens: 1, ms: [5] });
const ended = (offset: number, status: EndEvent['status'], extra: Partial<EndEvent> = {}): EndEvent => ({
  offset,
  kind: 'end',
  status,
  finishReason: status === 'completed' ? 'stop' : status === 'cancelled' ? 'cancelled' : 'error',
  usage,
  error: status === 'failed' ? { code: 'producer_lost', message: 'gone\r\nid: 99' } : null,
  ms: 10,
  timings: null,
  ...extra,
});

interface Frame {
  id: string | null;
  data: string[];
}

/**
 * A strict reading of the SSE grammar (any of CR, LF, CRLF ends a line; a blank line dispatches),
 * so a payload that smuggles a line break would show up as an extra field or event here.
 */
function parse(stream: string): { frames: Frame[]; fields: string[] } {
  const frames: Frame[] = [];
  const fields: string[] = [];
  let cur: Frame = { id: null, data: [] };
  for (const line of stream.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (cur.data.length > 0 || cur.id !== null) frames.push(cur);
      cur = { id: null, data: [] };
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    fields.push(field);
    if (field === 'id') cur.id = value;
    else if (field === 'data') cur.data.push(value);
  }
  return { frames, fields };
}

describe('SSE encoding', () => {
  it('a token event is one frame: id = offset, one data line with an OpenAI chunk', () => {
    const out = encodeSseEvent(chatCtx, token(7, ' word'));
    expect(out).toMatch(/^id: 7\ndata: [^\r\n]+\n\n$/);
    const { frames } = parse(out);
    expect(frames).toHaveLength(1);
    expect(frames[0]?.id).toBe('7');
    expect(JSON.parse(frames[0]?.data[0] as string)).toEqual({
      id: `chatcmpl-${chatCtx.id}`,
      object: 'chat.completion.chunk',
      created: chatCtx.created,
      model: 'mock',
      choices: [{ index: 0, delta: { content: ' word' }, logprobs: null, finish_reason: null }],
    });
  });

  it('the token at offset 1 also carries the assistant role; no other does', () => {
    const first = JSON.parse(parse(encodeSseEvent(chatCtx, token(1, 'Hi'))).frames[0]?.data[0] as string);
    expect(first.choices[0].delta).toEqual({ role: 'assistant', content: 'Hi' });
    const second = JSON.parse(parse(encodeSseEvent(chatCtx, token(2, '!'))).frames[0]?.data[0] as string);
    expect(second.choices[0].delta).toEqual({ content: '!' });
  });

  it('completions use text_completion chunks with choices[0].text', () => {
    const chunk = JSON.parse(parse(encodeSseEvent(textCtx, token(1, 'Hi'))).frames[0]?.data[0] as string);
    expect(chunk).toEqual({
      id: `cmpl-${chatCtx.id}`,
      object: 'text_completion',
      created: chatCtx.created,
      model: 'mock',
      choices: [{ text: 'Hi', index: 0, logprobs: null, finish_reason: null }],
    });
  });

  it('text with CR, LF, NUL and fake fields stays in one data line: no field can be injected', () => {
    const evil = 'a\rb\nc\r\n\r\nid: 999\nevent: hijack\ndata: [DONE]\n\n\u0000retry: 1\u2028\u2029';
    for (const ctx of [chatCtx, textCtx]) {
      const out = encodeSseEvent(ctx, token(3, evil));
      const { frames, fields } = parse(out);
      expect(fields).toEqual(['id', 'data']);
      expect(frames).toHaveLength(1);
      expect(frames[0]?.id).toBe('3');
      expect(out).not.toContain('\u0000');
      const chunk = JSON.parse(frames[0]?.data[0] as string);
      expect(chunk.choices[0].delta?.content ?? chunk.choices[0].text).toBe(evil);
    }
    // The same holds for an error message in a failed end.
    const failed = parse(encodeSseEvent(chatCtx, ended(4, 'failed')));
    expect(failed.fields).toEqual(['id', 'data', 'data']);
  });

  it.each([
    ['completed', 'stop'],
    ['cancelled', 'cancelled'],
  ] as const)('a %s end is an empty-delta chunk with finish_reason %s, then [DONE]; only the first frame has the id', (status, finish) => {
    const out = encodeSseEvent(chatCtx, ended(9, status));
    const { frames, fields } = parse(out);
    expect(fields).toEqual(['id', 'data', 'data']);
    expect(frames.map((f) => f.id)).toEqual(['9', null]);
    expect(JSON.parse(frames[0]?.data[0] as string)).toEqual({
      id: `chatcmpl-${chatCtx.id}`,
      object: 'chat.completion.chunk',
      created: chatCtx.created,
      model: 'mock',
      choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }],
    });
    expect(frames[1]?.data).toEqual(['[DONE]']);
    expect(out.endsWith(AFTER_END_FRAME)).toBe(true);

    const text = parse(encodeSseEvent(textCtx, ended(9, status))).frames;
    expect(JSON.parse(text[0]?.data[0] as string).choices).toEqual([{ text: '', index: 0, logprobs: null, finish_reason: finish }]);
  });

  it('a failed end carries an OpenAI error object with its code, then [DONE]', () => {
    const { frames } = parse(encodeSseEvent(chatCtx, ended(5, 'failed')));
    expect(frames.map((f) => f.id)).toEqual(['5', null]);
    expect(JSON.parse(frames[0]?.data[0] as string)).toEqual({ error: { message: 'gone\r\nid: 99', type: 'server_error', param: null, code: 'producer_lost' } });
    expect(frames[1]?.data).toEqual(['[DONE]']);
    // No error recorded: still a well-formed error.
    const bare = parse(encodeSseEvent(chatCtx, ended(5, 'failed', { error: null }))).frames;
    expect(JSON.parse(bare[0]?.data[0] as string).error.code).toBe('generation_failed');
  });

  it('usage, when asked for, is a chunk with empty choices between the end and [DONE]', () => {
    for (const status of ['completed', 'cancelled', 'failed'] as const) {
      const { frames } = parse(encodeSseEvent({ ...chatCtx, includeUsage: true }, ended(6, status)));
      expect(frames).toHaveLength(3);
      expect(JSON.parse(frames[1]?.data[0] as string)).toEqual({
        id: `chatcmpl-${chatCtx.id}`,
        object: 'chat.completion.chunk',
        created: chatCtx.created,
        model: 'mock',
        choices: [],
        usage,
      });
      expect(frames[2]?.data).toEqual(['[DONE]']);
    }
    const text = parse(encodeSseEvent({ ...textCtx, includeUsage: true }, ended(6, 'completed'))).frames;
    expect(JSON.parse(text[1]?.data[0] as string)).toMatchObject({ object: 'text_completion', choices: [], usage });
  });

  it('after the end there is only [DONE]; heartbeats are comments', () => {
    expect(AFTER_END_FRAME).toBe('data: [DONE]\n\n');
    expect(HEARTBEAT_FRAME.startsWith(':')).toBe(true);
    expect(parse(HEARTBEAT_FRAME).frames).toEqual([]);
  });

  it('the non-streaming response joins the tokens', () => {
    const events = [token(1, 'Hel'), token(2, 'lo')];
    expect(completeResponse(chatCtx, events, ended(3, 'completed'))).toEqual({
      id: `chatcmpl-${chatCtx.id}`,
      object: 'chat.completion',
      created: chatCtx.created,
      model: 'mock',
      usage,
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, logprobs: null, finish_reason: 'stop' }],
    });
    expect(completeResponse(textCtx, events, ended(3, 'completed'))).toMatchObject({ object: 'text_completion', choices: [{ text: 'Hello', finish_reason: 'stop' }] });
  });
});
