import { mockText } from '@tokencast/producer';
import { parseChatRequest } from '@tokencast/protocol';
import type { ChatRequest } from '../../src/index.js';

/** The text the built-in mock writes for a chat request: the reference every stream must match. */
export function reference(req: ChatRequest): string {
  return mockText(parseChatRequest(req, { maxTokensCap: 1_000_000, maxPromptChars: 1_000_000 })).text;
}

let n = 0;

/** A chat request for the mock, unique per call, with a natural length of `len` tokens. */
export function mockRequest(len: number, extra = ''): ChatRequest {
  n++;
  return { model: 'mock', messages: [{ role: 'user', content: `request ${n} ${Math.random().toString(36).slice(2)} [mock:len=${len}]${extra}` }] };
}
