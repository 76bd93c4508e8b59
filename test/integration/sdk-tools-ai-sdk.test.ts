import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_KEY, parsedCalls, startToolsStack, type ToolsStack, TRAIN_SCHEMA, TOOLS_WANT as WANT, WEATHER_SCHEMA } from '../support/tools-stack.js';

/**
 * The Vercel AI SDK (`ai` 7) through `@ai-sdk/openai-compatible`, which speaks Chat Completions:
 * `streamText` with two tools against the edge in front of the stand-in upstreams (see
 * test/support/tools-stack.ts). `ai` 7 needs Node ≥ 22 (its engines field, and Node 22 APIs at
 * run time); CI runs the suite on Node 24 as well, where this file runs. Imported dynamically so
 * Node 20 never loads them.
 */
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const skip = NODE_MAJOR < 22;

let stack: ToolsStack;

beforeAll(async () => {
  if (skip) return;
  stack = await startToolsStack('aisdktools');
});

afterAll(async () => {
  await stack?.stop();
});

describe.skipIf(skip)(`Vercel AI SDK streamText with tools via @ai-sdk/openai-compatible (needs Node ≥ 22; this is Node ${process.versions.node})`, () => {
  for (const model of ['gpt-standin', 'claude-standin']) {
    it(`${model}: tool names, ids and parsed inputs, and the reasoning text, equal what the upstream sent`, async () => {
      const { jsonSchema, streamText, tool } = await import('ai');
      const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible');
      const provider = createOpenAICompatible({ name: 'tokencast', baseURL: `${stack.edge.url}/v1`, apiKey: CALLER_KEY, includeUsage: true });
      const upstream = model === 'gpt-standin' ? stack.gpt : stack.claude;
      const before = upstream.requests.length;
      const result = streamText({
        model: provider(model),
        prompt: 'Plan a day trip from Lisbon to Sintra.',
        tools: {
          get_weather: tool({ description: 'Weather for a city', inputSchema: jsonSchema<{ city: string; days?: number }>(WEATHER_SCHEMA as Parameters<typeof jsonSchema>[0]) }),
          find_train: tool({ description: 'A train between two places', inputSchema: jsonSchema<{ from: string; to: string }>(TRAIN_SCHEMA as Parameters<typeof jsonSchema>[0]) }),
        },
      });
      const kinds: string[] = [];
      for await (const part of result.fullStream) kinds.push(part.type);
      const calls = await result.toolCalls;
      expect(calls.map((c) => ({ id: c.toolCallId, name: c.toolName, input: c.input }))).toEqual(parsedCalls());
      expect(await result.reasoningText).toBe(WANT.reasoning);
      expect(await result.text).toBe(WANT.text);
      expect(await result.finishReason).toBe('tool-calls');
      expect((await result.usage).outputTokens).toBe(52);
      // The arguments streamed in pieces (more tool-input-delta parts than calls), and the reasoning too.
      expect(kinds.filter((k) => k === 'tool-input-delta').length).toBeGreaterThan(calls.length);
      expect(kinds.filter((k) => k === 'reasoning-delta').length).toBeGreaterThanOrEqual(2);
      // The upstream got both tools, with their schemas, in its own format.
      const sent = upstream.requests[before]?.body.tools as Record<string, unknown>[];
      const names = sent.map((t) =>
        model === 'gpt-standin' ? [(t.function as { name: string }).name, (t.function as { parameters: unknown }).parameters] : [t.name, t.input_schema],
      );
      expect(names).toEqual([
        ['get_weather', WEATHER_SCHEMA],
        ['find_train', TRAIN_SCHEMA],
      ]);
      console.log(`ai sdk (openai-compatible) ← ${model}: ${JSON.stringify(calls.map((c) => [c.toolName, c.input]))}; reasoning ${JSON.stringify(await result.reasoningText)}`);
    });
  }
});
