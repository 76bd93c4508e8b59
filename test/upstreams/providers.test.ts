import { AnthropicProvider, OpenAICompatibleProvider, type ProviderEvent, ResponsesProvider, UpstreamError } from '@tokencast/producer';
import type { GenerationRequest } from '@tokencast/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, recordingUpstream } from '../support/fake-upstreams.js';
import { expected, type StandInScript, standInAnthropic, standInOpenAI, standInResponses } from '../support/stand-in-upstream.js';

/**
 * Upstream fidelity (#12), provider by provider, against stand-in servers over real HTTP: what
 * each provider sends for a request that uses every field of the normal form, and what it makes
 * of a stream of reasoning, text and tool calls in pieces.
 */
const SCRIPT: StandInScript = {
  output: [
    { kind: 'reasoning', pieces: ['The user', ' wants the', ' weather.'], signature: 'sig-abc123' },
    { kind: 'text', pieces: ['Let me', ' check.'] },
    { kind: 'tool_call', id: 'call_w1', name: 'get_weather', args: ['{"ci', 'ty": "Par', 'is", "unit"', ': "c"}'] },
    { kind: 'tool_call', id: 'call_t2', name: 'get_time', args: ['{"tz":', '"Europe/Paris"}'] },
  ],
  usage: { input: 120, output: 45, cached: 100, reasoning: 12 },
};

const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const WEATHER_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city'] },
    strict: true,
  },
};
const SCHEMA = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };

/** A second turn of an agent: every field of the normal form in use. */
function fullRequest(extra: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    kind: 'chat',
    api: 'openai',
    model: 'standin',
    messages: [
      { role: 'system', content: 'You are terse.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Weather where this photo was taken?' },
          { type: 'image_url', image_url: { url: PNG } },
          { type: 'image_url', image_url: { url: 'https://example.com/paris.jpg', detail: 'low' } },
        ],
      },
      {
        role: 'assistant',
        content: '',
        reasoning: { text: 'Looks like Paris.', signature: 'sig-prev' },
        tool_calls: [{ id: 'call_prev', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', content: '{"temp_c":21}', tool_call_id: 'call_prev' },
      { role: 'user', content: 'And the time?' },
    ],
    prompt: '',
    maxTokens: 3000,
    stream: true,
    includeUsage: true,
    tools: [WEATHER_TOOL, { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } }],
    toolChoice: { type: 'function', function: { name: 'get_time' } },
    parallelToolCalls: false,
    responseFormat: { type: 'json_schema', json_schema: { name: 'answer', schema: SCHEMA, strict: true } },
    reasoning: { effort: 'low' },
    params: { temperature: 0.2, stop: ['END'] },
    ...extra,
  };
}

const options = (baseUrl: string) => ({ baseUrl, apiKey: 'k', connectTimeoutMs: 2000, firstTokenTimeoutMs: 5000, idleTimeoutMs: 5000, maxEventBytes: 1 << 20 });

async function collect(events: AsyncIterable<ProviderEvent>): Promise<ProviderEvent[]> {
  const out: ProviderEvent[] = [];
  for await (const ev of events) out.push(ev);
  return out;
}

const ctx = () => ({ signal: new AbortController().signal, resumeTokens: 0, resumeText: '' });

/** Reasoning, text and tool calls (by upstream index) put back together from provider events. */
function reassemble(events: ProviderEvent[]) {
  const calls = new Map<number, { id: string; name: string; args: string }>();
  let reasoning = '';
  let text = '';
  let signature = '';
  for (const ev of events) {
    if (ev.type === 'reasoning') reasoning += ev.text;
    else if (ev.type === 'reasoning_signature') signature += ev.signature;
    else if (ev.type === 'text') text += ev.text;
    else if (ev.type === 'tool_call') calls.set(ev.index, { id: ev.id, name: ev.name, args: '' });
    else if (ev.type === 'tool_args') {
      const c = calls.get(ev.index);
      if (!c) throw new Error(`arguments before the start of tool call ${ev.index}`);
      c.args += ev.args;
    }
  }
  return { reasoning, text, signature, calls: [...calls.values()], end: events.at(-1) };
}

describe('OpenAI-compatible upstream', () => {
  let up: FakeUpstream;
  let provider: OpenAICompatibleProvider;
  beforeAll(async () => {
    up = await standInOpenAI(SCRIPT);
    provider = new OpenAICompatibleProvider(options(`${up.url}/v1`));
  });
  afterAll(async () => {
    await provider?.close();
    await up?.close();
  });

  it('sends every field of the normal form: tools, tool_choice, parallel_tool_calls, response_format, reasoning_effort, logprobs, metadata, images, audio, tool_calls, tool messages', async () => {
    const req = fullRequest({ logprobs: true, topLogprobs: 2, metadata: { trace: 't-1' } });
    const audio = { type: 'input_audio' as const, input_audio: { data: 'UklGRg==', format: 'wav' } };
    req.messages.push({ role: 'user', content: [{ type: 'text', text: 'listen' }, audio] });
    await collect(provider.generate(req, ctx()));
    const sent = up.requests.at(-1);
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(sent?.headers.authorization).toBe('Bearer k');
    expect(sent?.body).toEqual({
      model: 'standin',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 3000,
      temperature: 0.2,
      stop: ['END'],
      messages: [
        { role: 'system', content: 'You are terse.' },
        req.messages[1],
        // Content null beside tool_calls, as OpenAI writes it; the earlier reasoning is not a Chat Completions input.
        { role: 'assistant', content: null, tool_calls: req.messages[2]?.tool_calls },
        { role: 'tool', content: '{"temp_c":21}', tool_call_id: 'call_prev' },
        { role: 'user', content: 'And the time?' },
        { role: 'user', content: [{ type: 'text', text: 'listen' }, audio] },
      ],
      tools: req.tools,
      tool_choice: { type: 'function', function: { name: 'get_time' } },
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: SCHEMA, strict: true } },
      reasoning_effort: 'low',
      logprobs: true,
      top_logprobs: 2,
      metadata: { trace: 't-1' },
    });
  });

  it('maps reasoning_content, content, tool_calls pieces, finish_reason tool_calls and usage details', async () => {
    const events = await collect(provider.generate(fullRequest(), ctx()));
    const got = reassemble(events);
    const want = expected(SCRIPT);
    expect(got.reasoning).toBe(want.reasoning);
    expect(got.text).toBe(want.text);
    expect(got.calls).toEqual(want.calls);
    for (const c of got.calls) expect(JSON.parse(c.args)).toBeTypeOf('object');
    expect(got.end).toEqual({
      type: 'end',
      finishReason: 'tool_calls',
      usage: { prompt_tokens: 120, completion_tokens: 45, prompt_tokens_details: { cached_tokens: 100 }, completion_tokens_details: { reasoning_tokens: 12 } },
    });
    // Each argument piece arrives as its own event, in order, after its call's start.
    expect(events.filter((e) => e.type === 'tool_args').length).toBe(6);
  });
});

describe('OpenAI-compatible upstream: what servers really send', () => {
  let up: FakeUpstream;
  let provider: OpenAICompatibleProvider;
  const frames: Record<string, string[]> = {};
  beforeAll(async () => {
    up = await recordingUpstream((_req, res, body) => {
      const prompt = JSON.stringify(body.messages);
      const key = Object.keys(frames).find((k) => prompt.includes(k)) ?? '';
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${(frames[key] ?? []).map((f) => `data: ${f}\n\n`).join('')}data: [DONE]\n\n`);
    });
    provider = new OpenAICompatibleProvider(options(`${up.url}/v1`));
  });
  afterAll(async () => {
    await provider?.close();
    await up?.close();
  });
  const chunk = (delta: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ choices: [{ index: 0, delta, finish_reason: null, ...extra }] });
  const ask = (key: string) => collect(provider.generate({ ...fullRequest(), messages: [{ role: 'user', content: key }] }, ctx()));

  it('`delta.reasoning` (as some servers name it), refusal, and logprobs on content', async () => {
    const lp = {
      content: [
        {
          token: 'Hi',
          logprob: -0.25,
          bytes: [72, 105],
          top_logprobs: [
            { token: 'Hi', logprob: -0.25, bytes: [72, 105] },
            { token: 'bad', logprob: 'x' },
          ],
        },
      ],
    };
    frames['[r]'] = [chunk({ reasoning: 'thinking…' }), chunk({ content: 'Hi' }, { logprobs: lp }), chunk({ refusal: 'I cannot' }), chunk({}, { finish_reason: 'stop' })];
    const events = await ask('[r]');
    expect(events).toEqual([
      { type: 'reasoning', text: 'thinking…', tokens: 1 },
      {
        type: 'text',
        text: 'Hi',
        tokens: 1,
        logprobs: [{ token: 'Hi', logprob: -0.25, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.25, bytes: [72, 105] }] }],
      },
      { type: 'refusal', text: 'I cannot' },
      { type: 'end', finishReason: 'stop', usage: null },
    ]);
  });

  it('a tool call sent whole, without index, with arguments as an object; a name that comes after the first arguments', async () => {
    frames['[whole]'] = [
      chunk({ tool_calls: [{ id: 'a1', type: 'function', function: { name: 'f', arguments: { x: 1 } } }] }),
      chunk({ tool_calls: [{ id: 'b2', type: 'function', function: { name: 'g', arguments: '{"y":2}' } }] }),
      chunk({ tool_calls: [{ index: 5, function: { arguments: '{"z"' } }] }),
      chunk({ tool_calls: [{ index: 5, id: 'c3', function: { name: 'h', arguments: ':3}' } }] }),
      chunk({}, { finish_reason: 'tool_calls' }),
    ];
    const got = reassemble(await ask('[whole]'));
    expect(got.calls).toEqual([
      { id: 'a1', name: 'f', args: '{"x":1}' },
      { id: 'b2', name: 'g', args: '{"y":2}' },
      { id: 'c3', name: 'h', args: '{"z":3}' },
    ]);
    expect(got.end).toMatchObject({ finishReason: 'tool_calls' });
  });
});

describe('Anthropic upstream', () => {
  let up: FakeUpstream;
  let provider: AnthropicProvider;
  beforeAll(async () => {
    up = await standInAnthropic(SCRIPT);
    provider = new AnthropicProvider({ ...options(up.url), defaultMaxTokens: 4096 });
  });
  afterAll(async () => {
    await provider?.close();
    await up?.close();
  });

  it('translates the request: system, image blocks, tool_use and tool_result blocks, tools with input_schema, tool_choice, thinking budget, output_config', async () => {
    await collect(provider.generate(fullRequest({ metadata: { user_id: 'u-42' } }), ctx()));
    const sent = up.requests.at(-1);
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.headers['x-api-key']).toBe('k');
    expect(sent?.body).toEqual({
      model: 'standin',
      stream: true,
      system: 'You are terse.',
      max_tokens: 3000,
      thinking: { type: 'enabled', budget_tokens: 1024 * 2 },
      temperature: 0.2,
      stop_sequences: ['END'],
      metadata: { user_id: 'u-42' },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather where this photo was taken?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG.slice('data:image/png;base64,'.length) } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/paris.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Looks like Paris.', signature: 'sig-prev' },
            { type: 'tool_use', id: 'call_prev', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_prev', content: '{"temp_c":21}' },
            { type: 'text', text: 'And the time?' },
          ],
        },
      ],
      tools: [
        { name: 'get_weather', description: 'Weather for a city', input_schema: WEATHER_TOOL.function.parameters, strict: true },
        { name: 'get_time', input_schema: { type: 'object', properties: { tz: { type: 'string' } } } },
      ],
      tool_choice: { type: 'tool', name: 'get_time', disable_parallel_tool_use: true },
      output_config: { format: { type: 'json_schema', schema: SCHEMA } },
    });
  });

  it('maps thinking_delta, signature_delta, text_delta, tool_use blocks with input_json_delta, stop_reason tool_use and cache usage', async () => {
    const events = await collect(provider.generate(fullRequest(), ctx()));
    const got = reassemble(events);
    const want = expected(SCRIPT);
    expect(got.reasoning).toBe(want.reasoning);
    expect(got.signature).toBe('sig-abc123');
    expect(got.text).toBe(want.text);
    expect(got.calls).toEqual(want.calls);
    // Prompt tokens as OpenAI counts them: fresh input plus cache reads and writes; cache reads are
    // the cached detail, writes (the stand-in reports none) cache_write_tokens.
    expect(got.end).toEqual({
      type: 'end',
      finishReason: 'tool_calls',
      usage: { prompt_tokens: 120, completion_tokens: 45, prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 0 } },
    });
  });

  it('without max_tokens, the thinking budget is added to the default; a budget at or over max_tokens is refused', async () => {
    await collect(provider.generate(fullRequest({ maxTokens: null, reasoning: { budgetTokens: 5000 } }), ctx()));
    expect(up.requests.at(-1)?.body).toMatchObject({ max_tokens: 4096 + 5000, thinking: { type: 'enabled', budget_tokens: 5000 } });
    const before = up.requests.length;
    const err = await collect(provider.generate(fullRequest({ maxTokens: 3000, reasoning: { budgetTokens: 3000 } }), ctx())).catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).code).toBe('unsupported_by_upstream');
    expect(up.requests.length).toBe(before);
  });

  it('what the Messages API cannot carry fails with unsupported_by_upstream before anything is sent', async () => {
    const before = up.requests.length;
    const cases: Partial<GenerationRequest>[] = [
      { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }] }] },
      { logprobs: true },
      { responseFormat: { type: 'json_object' } },
      { metadata: { trace: 'x' } },
      { params: { seed: 7 } },
      { messages: [{ role: 'assistant', content: '', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{not json' } }] }] },
    ];
    for (const c of cases) {
      const err = await collect(provider.generate(fullRequest(c), ctx())).catch((e) => e);
      expect(err, JSON.stringify(c)).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).code).toBe('unsupported_by_upstream');
      expect((err as UpstreamError).statusCode).toBe(400);
      expect((err as UpstreamError).message.length).toBeGreaterThan(10);
    }
    expect(up.requests.length).toBe(before);
  });
});

describe('Anthropic upstream: what servers really send', () => {
  let up: FakeUpstream;
  let provider: AnthropicProvider;
  const scripts: Record<string, string[]> = {};
  const ev = (type: string, body: Record<string, unknown> = {}) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
  beforeAll(async () => {
    up = await recordingUpstream((_req, res, body) => {
      const prompt = JSON.stringify(body.messages);
      const key = Object.keys(scripts).find((k) => prompt.includes(k)) ?? '';
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end((scripts[key] ?? []).join(''));
    });
    provider = new AnthropicProvider({ ...options(up.url), defaultMaxTokens: 1024 });
  });
  afterAll(async () => {
    await provider?.close();
    await up?.close();
  });
  const ask = (key: string) =>
    collect(provider.generate({ ...fullRequest({ reasoning: undefined, responseFormat: undefined }), messages: [{ role: 'user', content: key }] }, ctx()));

  it('a redacted_thinking block is passed on whole, as its own reasoning part', async () => {
    scripts['[redacted]'] = [
      ev('message_start', { message: { usage: { input_tokens: 5, output_tokens: 1 } } }),
      ev('content_block_start', { index: 0, content_block: { type: 'redacted_thinking', data: 'EnCrYpTeD' } }),
      ev('content_block_stop', { index: 0 }),
      ev('content_block_start', { index: 1, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'ok' } }),
      ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3 } }),
      ev('message_stop'),
    ];
    expect(await ask('[redacted]')).toEqual([
      { type: 'reasoning_redacted', data: 'EnCrYpTeD' },
      { type: 'text', text: 'ok', tokens: 1 },
      { type: 'end', finishReason: 'stop', usage: { prompt_tokens: 5, completion_tokens: 3 } },
    ]);
  });

  it('#14 item 9: negative, null and fractional usage counts from an Anthropic upstream are dropped (the producer counts)', async () => {
    scripts['[bad-usage]'] = [
      ev('message_start', { message: { usage: { input_tokens: null, cache_read_input_tokens: -4, output_tokens: 1 } } }),
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'x' } }),
      ev('message_delta', { delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 2.5 } }),
      ev('message_stop'),
    ];
    const events = await ask('[bad-usage]');
    expect(events.at(-1)).toEqual({ type: 'end', finishReason: 'length', usage: null });
  });

  it('an error event mid-stream fails with upstream_error; its text stays in the detail', async () => {
    scripts['[overloaded]'] = [
      ev('message_start', { message: { usage: { input_tokens: 5, output_tokens: 1 } } }),
      ev('error', { error: { type: 'overloaded_error', message: 'Overloaded at 10.1.2.3' } }),
    ];
    const err = await ask('[overloaded]').catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).code).toBe('upstream_error');
    expect((err as UpstreamError).message).not.toContain('10.1.2.3');
    expect((err as UpstreamError).detail).toContain('overloaded_error');
  });
});

describe('Responses API upstream', () => {
  let up: FakeUpstream;
  let provider: ResponsesProvider;
  beforeAll(async () => {
    up = await standInResponses(SCRIPT);
    provider = new ResponsesProvider(options(`${up.url}/v1`));
  });
  afterAll(async () => {
    await provider?.close();
    await up?.close();
  });

  it('translates the request into input items, function tools, text.format, reasoning and max_output_tokens', async () => {
    await collect(provider.generate(fullRequest({ params: { temperature: 0.2 }, reasoning: { effort: 'low', summary: 'auto' }, logprobs: true, topLogprobs: 3 }), ctx()));
    const sent = up.requests.at(-1);
    expect(sent?.path).toBe('/v1/responses');
    expect(sent?.headers.authorization).toBe('Bearer k');
    expect(sent?.body).toEqual({
      model: 'standin',
      stream: true,
      store: false,
      max_output_tokens: 3000,
      temperature: 0.2,
      input: [
        { type: 'message', role: 'system', content: [{ type: 'input_text', text: 'You are terse.' }] },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'Weather where this photo was taken?' },
            { type: 'input_image', image_url: PNG, detail: 'auto' },
            { type: 'input_image', image_url: 'https://example.com/paris.jpg', detail: 'low' },
          ],
        },
        { type: 'function_call', call_id: 'call_prev', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_prev', output: '{"temp_c":21}' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'And the time?' }] },
      ],
      tools: [
        { type: 'function', name: 'get_weather', description: 'Weather for a city', parameters: WEATHER_TOOL.function.parameters, strict: true },
        { type: 'function', name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } },
      ],
      tool_choice: { type: 'function', name: 'get_time' },
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 'answer', schema: SCHEMA, strict: true } },
      reasoning: { effort: 'low', summary: 'auto' },
      include: ['message.output_text.logprobs'],
      top_logprobs: 3,
    });
  });

  it('maps reasoning summaries, encrypted reasoning, output text, function calls with argument deltas, and usage details', async () => {
    // No stop sequences here: the Responses API has none.
    const got = reassemble(await collect(provider.generate(fullRequest({ params: {} }), ctx())));
    const want = expected(SCRIPT);
    expect(got.reasoning).toBe(want.reasoning);
    expect(got.signature).toBe('sig-abc123');
    expect(got.text).toBe(want.text);
    expect(got.calls).toEqual(want.calls);
    expect(got.end).toEqual({
      type: 'end',
      finishReason: 'tool_calls',
      usage: { prompt_tokens: 120, completion_tokens: 45, prompt_tokens_details: { cached_tokens: 100 }, completion_tokens_details: { reasoning_tokens: 12 } },
    });
  });

  it('what the Responses API cannot carry fails with unsupported_by_upstream before anything is sent', async () => {
    const before = up.requests.length;
    for (const c of [{ params: { stop: ['x'] } }, { params: { seed: 1 } }, { kind: 'completion' as const, prompt: 'p', messages: [] }]) {
      const err = await collect(provider.generate(fullRequest(c), ctx())).catch((e) => e);
      expect((err as UpstreamError).code, JSON.stringify(c)).toBe('unsupported_by_upstream');
    }
    expect(up.requests.length).toBe(before);
  });
});
