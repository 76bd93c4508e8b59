import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventErrors, resourceErrors } from '../support/openresponses.js';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/**
 * The Open Responses compliance checks (openresponses.org's compliance suite: the same seven
 * requests, the same validations) against a real edge on a real redis-server. The suite's own
 * runner needs bun and a network API; here each response is validated with ajv against the
 * document's schemas (test/fixtures/openresponses): a non-streaming answer against
 * ResponseResource; a streaming answer event by event against the streaming-event union, and its
 * final response (from response.completed/failed/incomplete) against ResponseResource.
 * One difference from the suite: the tool-calling requests add tool_choice "required", which is
 * what makes the mock model call a tool (a real model decides for itself).
 */
let redis: RedisServer;
let edge: Proc;

beforeAll(async () => {
  redis = await startRedisServer();
  edge = await startEmbedded({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'orc', MOCK_TOKENS_PER_SECOND: '2000' });
});

afterAll(async () => {
  await edge?.kill('SIGTERM');
  await redis?.stop();
});

const weatherTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Get the current weather for a location',
  parameters: { type: 'object', properties: { location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' } }, required: ['location'] },
};
// A 32×32 PNG, as the suite sends.
const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAIAAAD8GO2jAAAAMklEQVR42u3NMQEAAAgDoK1/aA3hZwIKkF6MRCKRSCQSiUQikUgkEolEIpFIJBKJRPJ3kVIVZwGxeZ8cAAAAAElFTkSuQmCC';

interface Case {
  id: string;
  body: Record<string, unknown>;
  stream?: boolean;
  /** Output item types the final response must contain. */
  outputTypes: string[];
  /** Event types the stream must contain. */
  eventTypes?: string[];
  completed: boolean;
}

const cases: Case[] = [
  { id: 'basic-response', body: { input: [{ type: 'message', role: 'user', content: 'Say hello in exactly 3 words.' }] }, outputTypes: ['message'], completed: true },
  { id: 'streaming-response', stream: true, body: { input: [{ type: 'message', role: 'user', content: 'Count from 1 to 5.' }] }, outputTypes: ['message'], completed: true },
  {
    id: 'system-prompt',
    body: {
      input: [
        { type: 'message', role: 'system', content: 'You are a pirate. Always respond in pirate speak.' },
        { type: 'message', role: 'user', content: 'Say hello.' },
      ],
    },
    outputTypes: ['message'],
    completed: true,
  },
  {
    id: 'tool-calling',
    body: { input: [{ type: 'message', role: 'user', content: "What's the weather like in San Francisco?" }], tools: [weatherTool], tool_choice: 'required' },
    outputTypes: ['function_call'],
    completed: true,
  },
  {
    id: 'tool-calling-streaming',
    stream: true,
    body: { input: [{ type: 'message', role: 'user', content: "What's the weather like in San Francisco?" }], tools: [weatherTool], tool_choice: 'required' },
    outputTypes: ['function_call'],
    eventTypes: ['response.output_item.added', 'response.function_call_arguments.delta', 'response.function_call_arguments.done', 'response.output_item.done'],
    completed: true,
  },
  {
    id: 'image-input',
    body: {
      input: [
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'What do you see in this image? Answer in one sentence.' },
            { type: 'input_image', image_url: PNG },
          ],
        },
      ],
    },
    outputTypes: ['message'],
    completed: true,
  },
  {
    id: 'multi-turn',
    body: {
      input: [
        { type: 'message', role: 'user', content: 'My name is Alice.' },
        { type: 'message', role: 'assistant', content: 'Hello Alice! Nice to meet you. How can I help you today?' },
        { type: 'message', role: 'user', content: 'What is my name?' },
      ],
    },
    outputTypes: ['message'],
    completed: true,
  },
];

async function run(c: Case): Promise<{ response: Record<string, unknown>; events: Record<string, unknown>[]; errors: string[] }> {
  const res = await fetch(`${edge.url}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer unused' },
    body: JSON.stringify({ model: 'mock', ...c.body, stream: c.stream === true }),
  });
  if (!res.ok) return { response: {}, events: [], errors: [`HTTP ${res.status}: ${await res.text()}`] };
  if (!c.stream) {
    const response = (await res.json()) as Record<string, unknown>;
    return { response, events: [], errors: resourceErrors(response) };
  }
  const events: Record<string, unknown>[] = [];
  const errors: string[] = [];
  let response: Record<string, unknown> = {};
  const parser = createParser({
    onEvent(ev) {
      const data = JSON.parse(ev.data) as Record<string, unknown>;
      events.push(data);
      for (const e of eventErrors(data)) errors.push(`${String(data.type)}: ${e}`);
      if (ev.event !== data.type) errors.push(`SSE event name ${ev.event} differs from its type ${String(data.type)}`);
      if (data.type === 'response.completed' || data.type === 'response.failed' || data.type === 'response.incomplete') response = data.response as Record<string, unknown>;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  errors.push(...resourceErrors(response).map((e) => `final response: ${e}`));
  return { response, events, errors };
}

describe('Open Responses compliance (the suite’s requests and checks, ajv against the OpenAPI schemas)', () => {
  for (const c of cases) {
    it(c.id, async () => {
      const { response, events, errors } = await run(c);
      expect(errors).toEqual([]);
      const output = response.output as { type: string }[];
      expect(output.length).toBeGreaterThan(0);
      for (const t of c.outputTypes) expect(output.map((o) => o.type)).toContain(t);
      if (c.completed) expect(response.status).toBe('completed');
      if (c.stream) expect(events.length).toBeGreaterThan(0);
      for (const t of c.eventTypes ?? []) expect(events.map((e) => e.type)).toContain(t);
      if (c.outputTypes.includes('function_call')) {
        const calls = events.filter((e) => e.type === 'response.output_item.added' && (e.item as { type: string }).type === 'function_call');
        if (c.stream) expect(calls.length).toBeGreaterThan(0);
      }
    });
  }
});
