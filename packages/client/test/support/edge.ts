import { mockOutput, mockText } from '@tokencast/producer';
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

/** A tool whose arguments are long enough (about 30 pieces) for cuts to land inside them. */
export const TRIP_TOOL = {
  type: 'function' as const,
  function: {
    name: 'plan_trip',
    description: 'Plan a trip',
    parameters: {
      type: 'object',
      properties: {
        origin: { type: 'string' },
        destination: { type: 'string' },
        mode: { type: 'string', enum: ['train', 'bus', 'ferry'] },
        travellers: { type: 'integer', minimum: 1, maximum: 9 },
        stops: { type: 'array', items: { type: 'string' }, minItems: 3 },
        notes: { type: 'string', minLength: 12 },
      },
      required: ['origin', 'destination'],
    },
  },
};

/** A chat request for which the mock reasons (`reasoning` tokens, then a signature) and then calls plan_trip. */
export function toolRequest(reasoning = 10): ChatRequest {
  n++;
  return {
    model: 'mock',
    messages: [{ role: 'user', content: `trip ${n} ${Math.random().toString(36).slice(2)} [mock:reasoning=${reasoning}]` }],
    tools: [TRIP_TOOL],
    tool_choice: 'required',
  };
}

/** What the mock writes for a request, by part: reasoning (+ signature), text, tool calls. */
export function referenceParts(req: ChatRequest) {
  const out = mockOutput(parseChatRequest(req, { maxTokensCap: 1_000_000, maxPromptChars: 1_000_000 }));
  const reasoning = out.parts.find((p) => p.type === 'reasoning');
  return {
    reasoning: reasoning?.type === 'reasoning' ? reasoning.text : '',
    signature: reasoning?.type === 'reasoning' ? reasoning.signature : '',
    text: out.parts.map((p) => (p.type === 'text' ? p.text : '')).join(''),
    toolCalls: out.parts.flatMap((p) => (p.type === 'tool_call' ? [{ index: p.index, id: p.id, name: p.name, arguments: p.arguments }] : [])),
    finishReason: out.finishReason,
    usage: out.usage,
  };
}
