import { describe, expect, it } from 'vitest';
import { InvalidRequestError, parseChatRequest, parseMessagesRequest, promptText, type RequestLimits } from '../src/index.js';

const limits: RequestLimits = { maxTokensCap: 4096, maxPromptChars: 10_000, maxMediaBytes: 64 };
const png = Buffer.alloc(40, 7).toString('base64'); // 40 bytes decoded
const weather = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] };
const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: weather, strict: true } }];

function rejection(fn: () => unknown): InvalidRequestError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    return err as InvalidRequestError;
  }
  throw new Error('expected the request to be rejected');
}

describe('OpenAI chat: nothing the caller sent is dropped', () => {
  it('keeps tools, tool choice, structured output, reasoning, logprobs, metadata, images, audio and a whole tool turn', () => {
    const req = parseChatRequest(
      {
        model: 'mock',
        messages: [
          { role: 'developer', content: 'be exact' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this, and the weather?' },
              { type: 'image_url', image_url: { url: 'https://example.test/cat.png', detail: 'low' } },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
              { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
            ],
          },
          // An assistant message passed back as the SDK returned it.
          {
            role: 'assistant',
            content: null,
            refusal: null,
            annotations: [],
            audio: null,
            function_call: null,
            reasoning_content: 'They want Oslo.',
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
          },
          { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '{"temp":3}' }] },
        ],
        tools,
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        parallel_tool_calls: false,
        response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: weather, strict: true } },
        reasoning_effort: 'low',
        logprobs: true,
        top_logprobs: 2,
        metadata: { team: 'a' },
        store: false,
        service_tier: 'auto',
      },
      limits,
    );
    expect(req.messages).toEqual([
      { role: 'developer', content: 'be exact' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this, and the weather?' },
          { type: 'image_url', image_url: { url: 'https://example.test/cat.png', detail: 'low' } },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
          { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
        ],
      },
      {
        role: 'assistant',
        content: '',
        reasoning: { text: 'They want Oslo.' },
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp":3}' },
    ]);
    expect(req).toMatchObject({
      tools,
      toolChoice: { type: 'function', function: { name: 'get_weather' } },
      parallelToolCalls: false,
      responseFormat: { type: 'json_schema', json_schema: { name: 'answer', schema: weather, strict: true } },
      reasoning: { effort: 'low' },
      logprobs: true,
      topLogprobs: 2,
      metadata: { team: 'a' },
      params: { store: false, service_tier: 'auto' },
    });
    expect(promptText(req)).toContain('get_weather {"city":"Oslo"}');
  });

  it('a plain request gains no new fields', () => {
    const req = parseChatRequest({ model: 'mock', messages: [{ role: 'user', content: 'hi' }] }, limits);
    expect(Object.keys(req).sort()).toEqual(['includeTimings', 'includeUsage', 'kind', 'maxTokens', 'messages', 'model', 'params', 'prompt', 'stream']);
  });

  it('counts every string toward MAX_PROMPT_CHARS: tool schemas, names, call arguments', () => {
    const small: RequestLimits = { ...limits, maxPromptChars: 200 };
    const user = { role: 'user', content: 'hi' };
    expect(() => parseChatRequest({ model: 'm', messages: [user], tools }, small)).not.toThrow();
    const bigSchema = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', description: 'x'.repeat(300) } } }];
    expect(rejection(() => parseChatRequest({ model: 'm', messages: [user], tools: bigSchema }, small)).code).toBe('context_length_exceeded');
    const call = { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: 'y'.repeat(300) } }] };
    expect(rejection(() => parseChatRequest({ model: 'm', messages: [user, call] }, small)).code).toBe('context_length_exceeded');
    const named = { role: 'user', name: 'n'.repeat(201), content: '' };
    expect(rejection(() => parseChatRequest({ model: 'm', messages: [named] }, small)).code).toBe('context_length_exceeded');
  });

  const user = (content: unknown) => ({ model: 'm', messages: [{ role: 'user', content }] });
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 10_000; i++) deep = { a: deep };
  it.each<[string, unknown, string, string]>([
    ['a custom tool', { ...user('x'), tools: [{ type: 'custom', custom: { name: 'c' } }] }, 'tools[0].type', 'unsupported_value'],
    ['a tool name with spaces', { ...user('x'), tools: [{ type: 'function', function: { name: 'get weather' } }] }, 'tools[0].function.name', 'invalid_value'],
    ['duplicate tool names', { ...user('x'), tools: [tools[0], tools[0]] }, 'tools[1].function.name', 'invalid_value'],
    ['an unknown field in a tool', { ...user('x'), tools: [{ type: 'function', function: { name: 'f', examples: [] } }] }, 'tools[0].function.examples', 'unknown_parameter'],
    ['a schema nested 10 000 deep', { ...user('x'), tools: [{ type: 'function', function: { name: 'f', parameters: deep } }] }, 'tools[0].function.parameters', 'invalid_value'],
    ['tool_choice naming a missing tool', { ...user('x'), tools, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice.function.name', 'invalid_value'],
    ['tool_choice required without tools', { ...user('x'), tool_choice: 'required' }, 'tool_choice', 'invalid_value'],
    ['tool_choice allowed_tools', { ...user('x'), tools, tool_choice: { type: 'allowed_tools', allowed_tools: {} } }, 'tool_choice.type', 'unsupported_value'],
    ['response_format of an unknown type', { ...user('x'), response_format: { type: 'yaml' } }, 'response_format.type', 'invalid_value'],
    ['json_schema without a name', { ...user('x'), response_format: { type: 'json_schema', json_schema: { schema: {} } } }, 'response_format.json_schema.name', 'invalid_value'],
    ['a bogus reasoning_effort', { ...user('x'), reasoning_effort: 'extreme' }, 'reasoning_effort', 'invalid_value'],
    ['top_logprobs without logprobs', { ...user('x'), top_logprobs: 3 }, 'top_logprobs', 'invalid_value'],
    ['top_logprobs over 20', { ...user('x'), logprobs: true, top_logprobs: 21 }, 'top_logprobs', 'invalid_value'],
    ['metadata with a number', { ...user('x'), metadata: { a: 1 } }, 'metadata.a', 'invalid_value'],
    ['logit_bias with a nested value', { ...user('x'), logit_bias: { '50256': { a: 1 } } }, 'logit_bias', 'invalid_value'],
    ['the deprecated functions', { ...user('x'), functions: [{ name: 'f' }] }, 'functions', 'unsupported_parameter'],
    ['audio output', { ...user('x'), audio: { voice: 'alloy', format: 'wav' } }, 'audio', 'unsupported_parameter'],
    ['modalities with audio', { ...user('x'), modalities: ['text', 'audio'] }, 'modalities', 'unsupported_value'],
    ['an image URL of another scheme', user([{ type: 'image_url', image_url: { url: 'file:///etc/passwd' } }]), 'messages[0].content[0].image_url.url', 'invalid_value'],
    ['a data URL that is not an image', user([{ type: 'image_url', image_url: { url: `data:text/html;base64,${png}` } }]), 'messages[0].content[0].image_url.url', 'invalid_value'],
    ['a data URL that is not base64', user([{ type: 'image_url', image_url: { url: 'data:image/png;base64,@@@@' } }]), 'messages[0].content[0].image_url.url', 'invalid_value'],
    [
      'images over the media cap',
      user([
        { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
      ]),
      'messages[0].content[1].image_url.url',
      'media_too_large',
    ],
    ['audio of an unknown format', user([{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'ogg' } }]), 'messages[0].content[0].input_audio.format', 'invalid_value'],
    ['a file part', user([{ type: 'file', file: { file_id: 'f' } }]), 'messages[0].content[0]', 'unsupported_value'],
    ['a tool message without tool_call_id', { model: 'm', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id', 'invalid_value'],
    [
      'tool_calls whose arguments are not a string',
      { model: 'm', messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: {} } }] }] },
      'messages[0].tool_calls[0].function.arguments',
      'invalid_value',
    ],
    ['a refusal in the history', { model: 'm', messages: [{ role: 'assistant', content: '', refusal: 'no' }] }, 'messages[0].refusal', 'unsupported_value'],
    ['an unknown message field', { model: 'm', messages: [{ role: 'user', content: 'x', cache: true }] }, 'messages[0].cache', 'unknown_parameter'],
    ['tool_call_id on a user message', { model: 'm', messages: [{ role: 'user', content: 'x', tool_call_id: 'c' }] }, 'messages[0].tool_call_id', 'unknown_parameter'],
    ['an unknown stream option', { ...user('x'), stream_options: { include_everything: true } }, 'stream_options.include_everything', 'unknown_parameter'],
  ])('refuses %s with a 400 naming the field', (_what, body, param, code) => {
    const e = rejection(() => parseChatRequest(body, limits));
    expect(e.statusCode).toBe(400);
    expect({ param: e.param, code: e.code }).toEqual({ param, code });
  });
});

describe('Anthropic messages: tools, tool results, images and thinking', () => {
  const input = (extra: Record<string, unknown> = {}) => ({
    model: 'claude-x',
    max_tokens: 2048,
    system: [{ type: 'text', text: 'be exact', cache_control: { type: 'ephemeral' } }],
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Weather?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
          { type: 'image', source: { type: 'url', url: 'https://example.test/a.jpg' } },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'Oslo it is.', signature: 'sig==' },
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '3 C' }], is_error: false },
          { type: 'text', text: 'And tomorrow?' },
        ],
      },
    ],
    tools: [{ name: 'get_weather', description: 'Weather', input_schema: weather }],
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
    thinking: { type: 'enabled', budget_tokens: 1024 },
    metadata: { user_id: 'u1' },
    ...extra,
  });

  it('translates into the normal form, keeping every part', () => {
    const req = parseMessagesRequest(input(), limits);
    expect(req.messages).toEqual([
      // The block keeps its cache_control, so it stays a block.
      { role: 'system', content: [{ type: 'text', text: 'be exact', cache_control: { type: 'ephemeral' } }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Weather?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
          { type: 'image_url', image_url: { url: 'https://example.test/a.jpg' } },
        ],
      },
      {
        role: 'assistant',
        content: 'Checking.',
        reasoning: { text: 'Oslo it is.', signature: 'sig==' },
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: '3 C' },
      { role: 'user', content: 'And tomorrow?' },
    ]);
    expect(req).toMatchObject({
      api: 'anthropic',
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: weather } }],
      toolChoice: 'required',
      parallelToolCalls: false,
      reasoning: { budgetTokens: 1024 },
      metadata: { user_id: 'u1' },
    });
    const err = parseMessagesRequest(
      input({ messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'boom', is_error: true }] }], tool_choice: undefined }),
      limits,
    );
    expect(err.messages[1]).toEqual({ role: 'tool', tool_call_id: 't', content: 'boom', tool_error: true });
  });

  it('keeps cache_control markers on every block that carries one, ttl included, and joins text blocks without one', () => {
    const eph = { type: 'ephemeral' } as const;
    const hour = { type: 'ephemeral', ttl: '1h' } as const;
    const req = parseMessagesRequest(
      input({
        system: [
          { type: 'text', text: 'long rules' },
          { type: 'text', text: ' and more', cache_control: hour },
        ],
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'doc', cache_control: eph },
              { type: 'image', source: { type: 'url', url: 'https://example.test/a.jpg' }, cache_control: eph },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Checking.', cache_control: eph },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {}, cache_control: eph },
            ],
          },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '3 C', cache_control: eph }], cache_control: hour }] },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'And ' },
              { type: 'text', text: 'tomorrow?' },
            ],
          },
        ],
        tools: [{ name: 'get_weather', input_schema: weather, cache_control: hour }],
        thinking: undefined,
      }),
      limits,
    );
    expect(req.messages).toEqual([
      {
        role: 'system',
        content: [
          { type: 'text', text: 'long rules' },
          { type: 'text', text: ' and more', cache_control: hour },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'doc', cache_control: eph },
          { type: 'image_url', image_url: { url: 'https://example.test/a.jpg' }, cache_control: eph },
        ],
      },
      {
        role: 'assistant',
        content: [{ type: 'text', text: 'Checking.', cache_control: eph }],
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{}' }, cache_control: eph }],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: [{ type: 'text', text: '3 C', cache_control: eph }], cache_control: hour },
      { role: 'user', content: 'And tomorrow?' },
    ]);
    expect(req.tools).toEqual([{ type: 'function', function: { name: 'get_weather', parameters: weather }, cache_control: hour }]);
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    [
      'a cache_control ttl Anthropic does not offer',
      { system: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral', ttl: '2h' } }] },
      'system[0].cache_control.ttl',
      'invalid_value',
    ],
    [
      'an unknown cache_control field',
      { tools: [{ name: 'f', input_schema: weather, cache_control: { type: 'ephemeral', scope: 'org' } }] },
      'tools[0].cache_control.scope',
      'unknown_parameter',
    ],
    ['a server tool', { tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, 'tools[0].type', 'unsupported_value'],
    ['a document block', { messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }, 'messages.0.content[0].type', 'unsupported_value'],
    ['a thinking budget under 1024', { thinking: { type: 'enabled', budget_tokens: 100 } }, 'thinking.budget_tokens', 'invalid_value'],
    ['a thinking budget at max_tokens', { thinking: { type: 'enabled', budget_tokens: 2048 } }, 'thinking.budget_tokens', 'invalid_value'],
    ['tool_choice naming a missing tool', { tool_choice: { type: 'tool', name: 'nope' } }, 'tool_choice.name', 'invalid_value'],
    ['an unknown top-level field', { mcp_servers: [{}] }, 'mcp_servers', 'unsupported_parameter'],
    [
      'an image in a tool result',
      { messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'image', source: {} }] }] }] },
      'messages.0.content[0].content[0]',
      'unsupported_value',
    ],
    [
      'an image of another type',
      { messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: png } }] }] },
      'messages.0.content[0].source.media_type',
      'invalid_value',
    ],
    [
      'tool_use input that is not an object',
      { messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: 'x' }] }] },
      'messages.0.content[0].input',
      'invalid_value',
    ],
  ])('refuses %s', (_what, extra, param, code) => {
    const e = rejection(() => parseMessagesRequest(input(extra), limits));
    expect({ param: e.param, code: e.code }).toEqual({ param, code });
  });
});
