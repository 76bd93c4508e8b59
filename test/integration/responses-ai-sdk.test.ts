import { mockOutput, mockText } from '@tokencast/producer';
import { parseResponsesRequest } from '@tokencast/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/**
 * The Vercel AI SDK against a real edge on a real redis-server, through the Responses API:
 * `@ai-sdk/openai` (whose openai(model) speaks the Responses API) and `@ai-sdk/open-responses`.
 * Both need Node ≥ 22 (their engines field, and Node 22 APIs at run time); CI runs the suite on
 * Node 24 as well, where this file runs. Imported dynamically so Node 20 never loads them.
 */
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const skip = NODE_MAJOR < 22;

let redis: RedisServer;
let edge: Proc;

beforeAll(async () => {
  if (skip) return;
  redis = await startRedisServer();
  edge = await startEmbedded({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'aisdk', MOCK_TOKENS_PER_SECOND: '2000' });
});

afterAll(async () => {
  await edge?.kill('SIGTERM');
  await redis?.stop();
});

/** What the mock writes for a Responses body, gathered by kind. */
function referenceScript(body: Record<string, unknown>) {
  const out = { reasoning: '', callId: '', args: '' };
  for (const p of mockOutput(parseResponsesRequest(body, { maxTokensCap: 1_000_000, maxPromptChars: 1_000_000 })).parts) {
    if (p.type === 'reasoning') out.reasoning += p.text;
    else if (p.type === 'tool_call') {
      out.callId = p.id;
      out.args += p.arguments;
    }
  }
  return out;
}

/** What the mock writes for a one-message prompt, as any producer would. */
function referenceText(input: string): string {
  return mockText(parseResponsesRequest({ model: 'mock', input }, { maxTokensCap: 1_000_000, maxPromptChars: 1_000_000 })).text;
}

describe.skipIf(skip)(`Vercel AI SDK over the Responses API (needs Node ≥ 22; this is Node ${process.versions.node})`, () => {
  it('@ai-sdk/openai streamText: the streamed text is the mock reference', async () => {
    const { streamText } = await import('ai');
    const { createOpenAI } = await import('@ai-sdk/openai');
    const openai = createOpenAI({ baseURL: `${edge.url}/v1`, apiKey: 'unused' });
    const prompt = 'Tell me about streams [mock:len=80]';
    const result = streamText({ model: openai('mock'), prompt });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    expect(text).toBe(referenceText(prompt));
    expect(await result.finishReason).toBe('stop');
    const usage = await result.usage;
    expect(usage.outputTokens).toBe(80);
    const meta = await result.response;
    expect(meta.id).toMatch(/^resp_[a-z2-7]{26}$/);
  });

  it('@ai-sdk/open-responses streamText: the same text through the Open Responses provider', async () => {
    const { streamText } = await import('ai');
    const { createOpenResponses } = await import('@ai-sdk/open-responses');
    const provider = createOpenResponses({ url: `${edge.url}/v1/responses`, name: 'tokencast', apiKey: 'unused' });
    const prompt = 'Open Responses please [mock:len=40]';
    const result = streamText({ model: provider('mock'), prompt });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    expect(text).toBe(referenceText(prompt));
    expect(await result.finishReason).toBe('stop');
  });

  it('@ai-sdk/openai streamText with a tool and reasoning: tool name, parsed input and reasoning are the mock reference', async () => {
    const { jsonSchema, streamText, tool } = await import('ai');
    const { createOpenAI } = await import('@ai-sdk/openai');
    const openai = createOpenAI({ baseURL: `${edge.url}/v1`, apiKey: 'unused' });
    const parameters = { type: 'object' as const, properties: { city: { type: 'string' as const } }, required: ['city'], additionalProperties: false };
    const prompt = 'What is the weather in Lisbon?';
    const result = streamText({
      model: openai('mock-reasoning'),
      prompt,
      tools: { get_weather: tool({ description: 'The weather in a city', inputSchema: jsonSchema<{ city: string }>(parameters) }) },
      toolChoice: 'required',
    });
    const calls = await result.toolCalls;
    const ref = referenceScript({
      model: 'mock-reasoning',
      input: prompt,
      tools: [{ type: 'function', name: 'get_weather', description: 'The weather in a city', parameters, strict: true }],
      tool_choice: 'required',
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ toolName: 'get_weather', toolCallId: ref.callId });
    expect(calls[0]?.input).toEqual(JSON.parse(ref.args));
    expect(await result.reasoningText).toBe(ref.reasoning);
    expect(await result.finishReason).toBe('tool-calls');
  });

  it('@ai-sdk/openai, two turns: the earlier answer goes back as an item reference and resolves', async () => {
    const { generateText } = await import('ai');
    const { createOpenAI } = await import('@ai-sdk/openai');
    const sent: string[] = [];
    const recording: typeof fetch = (url, init) => {
      if (typeof init?.body === 'string') sent.push(init.body);
      return fetch(url, init);
    };
    const openai = createOpenAI({ baseURL: `${edge.url}/v1`, apiKey: 'unused', fetch: recording });
    const first = await generateText({ model: openai('mock'), prompt: 'Remember the word copper.' });
    const second = await generateText({
      model: openai('mock'),
      messages: [{ role: 'user', content: 'Remember the word copper.' }, ...first.response.messages, { role: 'user', content: 'Which word?' }],
    });
    const ref = mockText(
      parseResponsesRequest(
        {
          model: 'mock',
          input: [
            { role: 'user', content: 'Remember the word copper.' },
            { role: 'assistant', content: first.text },
            { role: 'user', content: 'Which word?' },
          ],
        },
        { maxTokensCap: 1_000_000, maxPromptChars: 1_000_000 },
      ),
    );
    expect(second.text).toBe(ref.text);
    // The SDK sent the earlier answer as a reference, not as text: the edge resolved it.
    expect(sent[1]).toContain('"item_reference"');
  });
});
