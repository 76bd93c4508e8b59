import { parseChatRequest } from '@tokencast/protocol';
import { describe, expect, it } from 'vitest';

/** Issue #14, item 9: every string of a prompt counts toward MAX_PROMPT_CHARS, names included. */
const limits = { maxTokensCap: 1_000, maxPromptChars: 200_000, maxMediaBytes: 1_000_000 };

describe('#14.9 prompt size', () => {
  it('#14.9 a 900 000-character messages[].name does not pass MAX_PROMPT_CHARS', () => {
    const body = { model: 'mock', messages: [{ role: 'user', content: 'hi', name: 'n'.repeat(900_000) }] };
    expect(() => parseChatRequest(body, limits)).toThrow();
    // Names that together pass the limit are refused too, each one small.
    const many = { model: 'mock', messages: Array.from({ length: 1_000 }, () => ({ role: 'user', content: 'x'.repeat(150), name: 'n'.repeat(200) })) };
    expect(() => parseChatRequest(many, limits)).toThrow();
    // An ordinary name is fine.
    expect(parseChatRequest({ model: 'mock', messages: [{ role: 'user', content: 'hi', name: 'alice' }] }, limits).messages?.[0]).toMatchObject({ name: 'alice' });
  });
});
