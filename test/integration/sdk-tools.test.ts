import Anthropic from '@anthropic-ai/sdk';
import type { AIMessageChunk } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageAccumulator, TokencastClient } from '../../packages/client/src/index.js';
import { CutProxy } from '../../packages/client/test/support/cut-proxy.js';
import { CALLER_KEY, parsedCalls, startToolsStack, type ToolsStack, TRAIN_SCHEMA, TOOLS_WANT as WANT, WEATHER_SCHEMA } from '../support/tools-stack.js';

/**
 * Tool calls and reasoning through clients nobody here wrote (#12): the Anthropic SDK and
 * LangChain, against a real edge and producer (separate processes, one Redis) in front of two
 * stand-in upstreams (an Anthropic one and an OpenAI-compatible one) that record what they receive
 * and stream reasoning, text and two tool calls in pieces. Each test checks what the SDK
 * reassembled (tool names, ids, parsed arguments, reasoning text, signature) against what the
 * upstream sent, and what the upstream received (the tools, the thinking budget) against what the
 * SDK asked for. Last, our own @tokencast/client reads the same kind of generation through a proxy
 * that cuts connections, resuming inside the arguments. The Vercel AI SDK's test is in
 * sdk-tools-ai-sdk.test.ts (it needs Node ≥ 22).
 */
let stack: ToolsStack;

beforeAll(async () => {
  stack = await startToolsStack('sdktools');
});

afterAll(async () => {
  await stack?.stop();
});

describe('@anthropic-ai/sdk messages.stream with tools and thinking (POST /v1/messages)', () => {
  const tools = [
    { name: 'get_weather', description: 'Weather for a city', input_schema: WEATHER_SCHEMA as Anthropic.Tool.InputSchema },
    { name: 'find_train', description: 'A train between two places', input_schema: TRAIN_SCHEMA as Anthropic.Tool.InputSchema },
  ];

  async function run(model: string) {
    // @anthropic-ai/sdk 1.x sends apiKey as `Authorization: Bearer`; x-api-key (older releases,
    // curl examples) is the next test.
    const client = new Anthropic({ baseURL: stack.edge.url, apiKey: CALLER_KEY, maxRetries: 0 });
    const stream = client.messages.stream({
      model,
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      tools,
      messages: [{ role: 'user', content: 'Plan a day trip from Lisbon to Sintra.' }],
    });
    const pieces: string[] = [];
    const thinking: string[] = [];
    stream.on('inputJson', (partial) => pieces.push(partial));
    stream.on('thinking', (delta) => thinking.push(delta));
    const message = await stream.finalMessage();
    return { message, pieces, thinking };
  }

  it('from an Anthropic upstream: thinking with its signature, text, and both tool_use blocks with parsed input', async () => {
    const before = stack.claude.requests.length;
    const { message, pieces, thinking } = await run('claude-standin');
    const blocks = message.content;
    expect(blocks.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use', 'tool_use']);
    expect(blocks[0]).toMatchObject({ type: 'thinking', thinking: WANT.reasoning, signature: 'sig-people-7Qx' });
    expect(blocks[1]).toMatchObject({ type: 'text', text: WANT.text });
    expect(blocks.slice(2).map((b) => (b.type === 'tool_use' ? { id: b.id, name: b.name, input: b.input } : null))).toEqual(parsedCalls());
    expect(message.stop_reason).toBe('tool_use');
    expect(message.usage).toMatchObject({ output_tokens: 52, cache_read_input_tokens: 120 });
    // The SDK saw the reasoning and the arguments arrive in pieces, not at once.
    expect(thinking.join('')).toBe(WANT.reasoning);
    expect(thinking.length).toBeGreaterThanOrEqual(2);
    expect(pieces.length).toBeGreaterThan(WANT.calls.length);
    // What the upstream received: the caller's tools and thinking budget, the upstream's own key.
    const sent = stack.claude.requests[before];
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.headers['x-api-key']).toBe('sk-ant-upstream');
    expect(sent?.body).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 1024 }, stream: true });
    expect(((sent?.body.tools ?? []) as { name: string; input_schema: unknown }[]).map((t) => ({ name: t.name, input_schema: t.input_schema }))).toEqual(
      tools.map((t) => ({ name: t.name, input_schema: t.input_schema })),
    );
    console.log(
      `anthropic sdk ← anthropic upstream: ${blocks.map((b) => b.type).join(', ')}; calls ${JSON.stringify(blocks.slice(2).map((b) => (b.type === 'tool_use' ? [b.name, b.input] : null)))}; ${pieces.length} input_json pieces`,
    );
  });

  it('with the key in x-api-key (as curl and older SDK releases send it): the same answer', async () => {
    const client = new Anthropic({ baseURL: stack.edge.url, apiKey: null, defaultHeaders: { 'x-api-key': CALLER_KEY }, maxRetries: 0 });
    const message = await client.messages
      .stream({ model: 'claude-standin', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, tools, messages: [{ role: 'user', content: 'Plan a day trip.' }] })
      .finalMessage();
    expect(message.content.flatMap((b) => (b.type === 'tool_use' ? [{ id: b.id, name: b.name, input: b.input }] : []))).toEqual(parsedCalls());
    expect(message.content[0]).toMatchObject({ type: 'thinking', thinking: WANT.reasoning, signature: 'sig-people-7Qx' });
  });

  it('with a wrong key: an Anthropic-shaped 401 the SDK surfaces as AuthenticationError', async () => {
    const before = stack.claude.requests.length;
    const client = new Anthropic({ baseURL: stack.edge.url, apiKey: 'sk-not-a-key', maxRetries: 0 });
    const err = await client.messages
      .stream({ model: 'claude-standin', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((err as InstanceType<typeof Anthropic.AuthenticationError>).status).toBe(401);
    expect(stack.claude.requests.length).toBe(before);
  });

  it('from an OpenAI-compatible upstream: the same reasoning and tool calls, watched as Anthropic events', async () => {
    const before = stack.gpt.requests.length;
    const { message } = await run('gpt-standin');
    const blocks = message.content;
    expect(blocks.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use', 'tool_use']);
    // An OpenAI-compatible upstream streams reasoning_content, with no signature to carry.
    expect(blocks[0]).toMatchObject({ type: 'thinking', thinking: WANT.reasoning });
    expect(blocks[1]).toMatchObject({ type: 'text', text: WANT.text });
    expect(blocks.slice(2).map((b) => (b.type === 'tool_use' ? { id: b.id, name: b.name, input: b.input } : null))).toEqual(parsedCalls());
    expect(message.stop_reason).toBe('tool_use');
    const sent = stack.gpt.requests[before];
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(((sent?.body.tools ?? []) as { function: { name: string; parameters: unknown } }[]).map((t) => t.function)).toEqual([
      { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER_SCHEMA },
      { name: 'find_train', description: 'A train between two places', parameters: TRAIN_SCHEMA },
    ]);
  });
});

describe('LangChain ChatOpenAI.bindTools, streaming (POST /v1/chat/completions)', () => {
  it('from an Anthropic upstream: tool call names and parsed args, and the reasoning, equal what it sent', async () => {
    const before = stack.claude.requests.length;
    const model = new ChatOpenAI({ model: 'claude-standin', apiKey: CALLER_KEY, configuration: { baseURL: `${stack.edge.url}/v1` }, streamUsage: true, maxRetries: 0 });
    const bound = model.bindTools([
      { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER_SCHEMA } },
      { type: 'function', function: { name: 'find_train', description: 'A train between two places', parameters: TRAIN_SCHEMA } },
    ]);
    let full: AIMessageChunk | null = null;
    let chunks = 0;
    for await (const chunk of await bound.stream('Plan a day trip from Lisbon to Sintra.')) {
      full = full === null ? chunk : full.concat(chunk);
      chunks++;
    }
    if (full === null) throw new Error('no chunks');
    expect(full.tool_calls?.map((c) => ({ id: c.id, name: c.name, input: c.args }))).toEqual(parsedCalls());
    expect(full.content).toBe(WANT.text);
    expect(full.additional_kwargs.reasoning_content).toBe(WANT.reasoning);
    expect(full.response_metadata.finish_reason).toBe('tool_calls');
    expect(full.usage_metadata).toMatchObject({ input_tokens: 140, output_tokens: 52 });
    expect(chunks).toBeGreaterThan(10);
    const sent = stack.claude.requests[before];
    expect(((sent?.body.tools ?? []) as { name: string; input_schema: unknown }[]).map((t) => [t.name, t.input_schema])).toEqual([
      ['get_weather', WEATHER_SCHEMA],
      ['find_train', TRAIN_SCHEMA],
    ]);
    console.log(
      `langchain ← anthropic upstream: ${chunks} chunks; tool_calls ${JSON.stringify(full.tool_calls?.map((c) => [c.name, c.args]))}; reasoning ${JSON.stringify(full.additional_kwargs.reasoning_content)}`,
    );
  });
});

describe('@tokencast/client from an Anthropic upstream, through connection cuts', () => {
  it('reassembles the reasoning with its signature and both calls exactly, resuming inside the arguments', async () => {
    const proxy = await CutProxy.start(stack.edge.port);
    try {
      const { id } = await new TokencastClient({ baseUrl: stack.edge.url, apiKey: CALLER_KEY }).submit({
        model: 'claude-standin',
        messages: [{ role: 'user', content: 'Plan a day trip from Lisbon to Sintra.' }],
        tools: [
          { type: 'function', function: { name: 'get_weather', parameters: WEATHER_SCHEMA } },
          { type: 'function', function: { name: 'find_train', parameters: TRAIN_SCHEMA } },
        ],
      });
      const client = new TokencastClient({ baseUrl: proxy.url, apiKey: CALLER_KEY, retry: { maxAttempts: 20, initialDelayMs: 10, maxDelayMs: 50 } });
      let midArgs = 0;
      let passes = 0;
      // The same generation read again and again (live the first time), each pass cut at random bytes.
      while (midArgs < 5 && passes < 80) {
        passes++;
        for (let i = 0; i < 3; i++) proxy.arm({ cutAfter: 200 + Math.floor(Math.random() * 5_000) });
        const acc = new MessageAccumulator();
        const at: Record<string, number[]> = {};
        const resumedAfter: number[] = [];
        for await (const ev of client.stream(id, { onReconnect: (r) => resumedAfter.push(r.offset) })) {
          acc.add(ev);
          if (ev.type === 'tool_call' || ev.type === 'tool_args') (at[ev.type] ??= []).push(ev.offset);
        }
        proxy.disarm();
        const m = acc.message();
        expect(m.toolCalls.map((c) => ({ id: c.id, name: c.name, input: c.input }))).toEqual(parsedCalls());
        expect(m.reasoning).toBe(WANT.reasoning);
        expect(m.reasoningSignature).toBe('sig-people-7Qx');
        expect(m.text).toBe(WANT.text);
        expect(acc.finishReason).toBe('tool_calls');
        // Anthropic reports cached prompt tokens, not reasoning tokens.
        expect(acc.usage).toMatchObject({ prompt_tokens: 140, completion_tokens: 52, prompt_tokens_details: { cached_tokens: 120 } });
        const first = Math.min(...(at.tool_call ?? []));
        const last = Math.max(...(at.tool_args ?? []));
        midArgs += resumedAfter.filter((o) => o >= first && o < last).length;
      }
      expect(midArgs).toBeGreaterThanOrEqual(5);
      console.log(`@tokencast/client ← anthropic upstream: ${passes} passes, ${midArgs} resumes inside the arguments; calls, reasoning and signature exact every time`);
    } finally {
      await proxy.close();
    }
  });
});
