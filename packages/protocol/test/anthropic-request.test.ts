import { describe, expect, it } from 'vitest';
import { InvalidRequestError, parseMessagesRequest, type RequestLimits } from '../src/index.js';

const limits: RequestLimits = { maxTokensCap: 4096, maxPromptChars: 10_000 };

function refusal(body: Record<string, unknown>): { message: string; param: string | null; code: string } {
  try {
    parseMessagesRequest({ model: 'claude-x', max_tokens: 100, ...body }, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    const e = err as InvalidRequestError;
    return { message: e.message, param: e.param, code: e.code };
  }
  throw new Error('accepted');
}

describe('Anthropic content fields', () => {
  it('a string is taken as it is in user, assistant and system content', () => {
    const req = parseMessagesRequest(
      {
        model: 'claude-x',
        max_tokens: 100,
        system: 'be brief',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hello' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
        ],
      },
      limits,
    );
    expect(req.messages.map((m) => [m.role, m.content])).toEqual([
      ['system', 'be brief'],
      ['user', 'hi'],
      ['assistant', 'hello'],
      ['user', 'ab'],
    ]);
  });

  it('content that is neither a string nor an array, and a block that is not an object, are 400s naming the field', () => {
    expect(refusal({ messages: [{ role: 'user', content: 5 }] })).toEqual({
      message: 'messages.0.content must be a string or an array of content blocks',
      param: 'messages.0.content',
      code: 'invalid_value',
    });
    expect(
      refusal({
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: {} },
        ],
      }),
    ).toEqual({
      message: 'messages.1.content must be a string or an array of content blocks',
      param: 'messages.1.content',
      code: 'invalid_value',
    });
    expect(refusal({ system: 7, messages: [{ role: 'user', content: 'q' }] })).toEqual({
      message: 'system must be a string or an array of text blocks',
      param: 'system',
      code: 'invalid_value',
    });
    expect(refusal({ messages: [{ role: 'user', content: ['x'] }] })).toEqual({
      message: 'messages.0.content[0] must be a content block',
      param: 'messages.0.content[0]',
      code: 'invalid_value',
    });
    expect(
      refusal({
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: [null] },
        ],
      }),
    ).toEqual({
      message: 'messages.1.content[0] must be a content block',
      param: 'messages.1.content[0]',
      code: 'invalid_value',
    });
  });
});
