import { describe, expect, it } from 'vitest';
import { InvalidRequestError, parseChatRequest, parseCompletionRequest, promptText, type RequestLimits } from '../src/index.js';

const limits: RequestLimits = { maxTokensCap: 100, maxPromptChars: 50 };
const chat = (extra: Record<string, unknown> = {}) => ({ model: 'mock', messages: [{ role: 'user', content: 'hi' }], ...extra });
const completion = (extra: Record<string, unknown> = {}) => ({ model: 'mock', prompt: 'hi', ...extra });

function rejection(fn: () => unknown): InvalidRequestError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    return err as InvalidRequestError;
  }
  throw new Error('expected the request to be rejected');
}

describe('parseChatRequest', () => {
  it('normalises a valid request', () => {
    const req = parseChatRequest(
      chat({
        messages: [
          { role: 'system', content: 'be brief' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
            name: 'ann',
          },
          { role: 'assistant', content: null },
        ],
        max_tokens: 10,
        stream: true,
        stream_options: { include_usage: true },
        temperature: 0.5,
        stop: ['x'],
        seed: 3,
      }),
      limits,
    );
    // toMatchObject: later options (timings, disconnect policy…) may add fields.
    expect(req).toMatchObject({
      kind: 'chat',
      model: 'mock',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'ab', name: 'ann' },
        { role: 'assistant', content: '' },
      ],
      prompt: '',
      maxTokens: 10,
      stream: true,
      includeUsage: true,
      params: { temperature: 0.5, stop: ['x'], seed: 3 },
    });
    // Sampling parameters pass through as given.
    expect(req.params).toEqual({ temperature: 0.5, stop: ['x'], seed: 3 });
    expect(promptText(req)).toBe('be brief\nab\n');
    expect(parseChatRequest(chat({ max_completion_tokens: 7 }), limits).maxTokens).toBe(7);
    expect(parseChatRequest(chat({ stream: null, n: 1, max_tokens: null }), limits)).toMatchObject({ stream: false, maxTokens: null, includeUsage: false });
  });

  it.each<[string, unknown, string | null, string]>([
    ['a non-object body (array)', [chat()], null, 'invalid_json'],
    ['a non-object body (string)', 'hello', null, 'invalid_json'],
    ['a non-object body (null)', null, null, 'invalid_json'],
    ['a non-object body (number)', 3, null, 'invalid_json'],
    ['a missing model', { messages: [{ role: 'user', content: 'hi' }] }, 'model', 'missing_required_parameter'],
    ['an empty model', chat({ model: '' }), 'model', 'invalid_value'],
    ['a non-string model', chat({ model: 3 }), 'model', 'invalid_value'],
    ['a huge model name', chat({ model: 'm'.repeat(257) }), 'model', 'invalid_value'],
    ['a model with a newline', chat({ model: 'mock\ndata: x' }), 'model', 'invalid_value'],
    ['a model with a NUL', chat({ model: 'mo\u0000ck' }), 'model', 'invalid_value'],
    ['missing messages', { model: 'mock' }, 'messages', 'missing_required_parameter'],
    ['messages not an array', chat({ messages: 'hi' }), 'messages', 'invalid_value'],
    ['empty messages', chat({ messages: [] }), 'messages', 'invalid_value'],
    ['a message that is not an object', chat({ messages: ['hi'] }), 'messages[0]', 'invalid_value'],
    ['a message without a role', chat({ messages: [{ content: 'hi' }] }), 'messages[0].role', 'invalid_value'],
    ['an unknown role', chat({ messages: [{ role: 'root', content: 'hi' }] }), 'messages[0].role', 'invalid_value'],
    ['content of the wrong type', chat({ messages: [{ role: 'user', content: 5 }] }), 'messages[0].content', 'invalid_value'],
    [
      'an image part whose image_url is not an object',
      chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'x' }] }] }),
      'messages[0].content[0].image_url',
      'invalid_value',
    ],
    [
      'an image part in a system message',
      chat({ messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }] }] }),
      'messages[0].content[0]',
      'invalid_value',
    ],
    ['an unknown field (never dropped silently)', chat({ unknown_field: 'x' }), 'unknown_field', 'unknown_parameter'],
    ['a prompt over the limit', chat({ messages: [{ role: 'user', content: 'x'.repeat(51) }] }), 'messages', 'context_length_exceeded'],
    ['max_tokens zero', chat({ max_tokens: 0 }), 'max_tokens', 'invalid_value'],
    ['max_tokens negative', chat({ max_tokens: -1 }), 'max_tokens', 'invalid_value'],
    ['max_tokens fractional', chat({ max_tokens: 1.5 }), 'max_tokens', 'invalid_value'],
    ['max_tokens as a string', chat({ max_tokens: '10' }), 'max_tokens', 'invalid_value'],
    ['max_tokens over the cap', chat({ max_tokens: 101 }), 'max_tokens', 'max_tokens_exceeded'],
    ['stream not a boolean', chat({ stream: 'yes' }), 'stream', 'invalid_value'],
    ['stream_options not an object', chat({ stream_options: true }), 'stream_options', 'invalid_value'],
    ['include_usage not a boolean', chat({ stream_options: { include_usage: 1 } }), 'stream_options.include_usage', 'invalid_value'],
    ['n other than 1', chat({ n: 2 }), 'n', 'unsupported_value'],
    ['temperature not a number', chat({ temperature: 'hot' }), 'temperature', 'invalid_value'],
    ['seed not an integer', chat({ seed: 1.5 }), 'seed', 'invalid_value'],
    ['too many stop sequences', chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', 'invalid_value'],
    ['stop of the wrong type', chat({ stop: [1] }), 'stop', 'invalid_value'],
    ['logit_bias not an object', chat({ logit_bias: [1] }), 'logit_bias', 'invalid_value'],
    ['user not a string', chat({ user: 7 }), 'user', 'invalid_value'],
  ])('rejects %s', (_what, body, param, code) => {
    const e = rejection(() => parseChatRequest(body, limits));
    expect(e.statusCode).toBe(400);
    expect(e.type).toBe('invalid_request_error');
    expect(e.param).toBe(param);
    expect(e.code).toBe(code);
    expect(e.message.length).toBeGreaterThan(0);
  });
});

describe('parseCompletionRequest', () => {
  it('normalises a valid request', () => {
    expect(parseCompletionRequest(completion({ max_tokens: 5, stream: true }), limits)).toMatchObject({
      kind: 'completion',
      model: 'mock',
      messages: [],
      prompt: 'hi',
      maxTokens: 5,
      stream: true,
      includeUsage: false,
      params: {},
    });
    expect(parseCompletionRequest(completion({ temperature: 1 }), limits).params).toEqual({ temperature: 1 });
    expect(parseCompletionRequest(completion({ prompt: ['one'] }), limits).prompt).toBe('one');
    expect(parseCompletionRequest(completion({ prompt: '' }), limits).prompt).toBe('');
  });

  it.each<[string, unknown, string | null, string]>([
    ['a non-object body', ['x'], null, 'invalid_json'],
    ['a missing model', { prompt: 'hi' }, 'model', 'missing_required_parameter'],
    ['a missing prompt', { model: 'mock' }, 'prompt', 'missing_required_parameter'],
    ['a numeric prompt', completion({ prompt: 3 }), 'prompt', 'invalid_value'],
    ['a null prompt', completion({ prompt: null }), 'prompt', 'invalid_value'],
    ['several prompts', completion({ prompt: ['a', 'b'] }), 'prompt', 'invalid_value'],
    ['a token-id prompt', completion({ prompt: [1, 2, 3] }), 'prompt', 'invalid_value'],
    ['a prompt over the limit', completion({ prompt: 'x'.repeat(51) }), 'prompt', 'context_length_exceeded'],
    ['max_tokens over the cap', completion({ max_tokens: 1_000 }), 'max_tokens', 'max_tokens_exceeded'],
    ['stream not a boolean', completion({ stream: 1 }), 'stream', 'invalid_value'],
    ['n other than 1', completion({ n: 3 }), 'n', 'unsupported_value'],
  ])('rejects %s', (_what, body, param, code) => {
    const e = rejection(() => parseCompletionRequest(body, limits));
    expect(e.statusCode).toBe(400);
    expect(e.param).toBe(param);
    expect(e.code).toBe(code);
  });
});
