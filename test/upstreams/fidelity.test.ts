import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUpstream } from '../support/fake-upstreams.js';
import { FAST_ENV, type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { expected, type StandInScript, standInAnthropic, standInOpenAI, standInResponses } from '../support/stand-in-upstream.js';

/**
 * Upstream fidelity end to end (#12): a real edge and a real producer (separate processes, one
 * Redis), two stand-in upstreams that record what they receive and stream reasoning, text and two
 * tool calls in pieces. A tool call from the Anthropic upstream is watched as OpenAI chunks and
 * one from the OpenAI upstream as Anthropic events; both reassemble to the names, ids and
 * arguments the upstream sent, with the same reasoning text and the upstream's usage details.
 */
const SCRIPT: StandInScript = {
  output: [
    { kind: 'reasoning', pieces: ['Two lookups', ' are needed', ': weather and time.'], signature: 'sig-e2e-1' },
    { kind: 'text', pieces: ['Checking', ' both.'] },
    { kind: 'tool_call', id: 'toolu_01', name: 'get_weather', args: ['{"city":', ' "Paris",', ' "unit": "c"}'] },
    { kind: 'tool_call', id: 'toolu_02', name: 'get_time', args: ['{"tz": "Eur', 'ope/Paris"}'] },
  ],
  usage: { input: 230, output: 61, cached: 200, cacheWrite: 20, reasoning: 9 },
};
const WANT = expected(SCRIPT);
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const SCHEMA = { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] };

let redis: RedisServer;
let edge: Proc;
let producer: Proc;
let claude: FakeUpstream;
let gpt: FakeUpstream;
let responses: FakeUpstream;

beforeAll(async () => {
  redis = await startRedisServer();
  claude = await standInAnthropic(SCRIPT);
  gpt = await standInOpenAI(SCRIPT);
  responses = await standInResponses(SCRIPT);
  const file = join(mkdtempSync(join(tmpdir(), 'tokencast-fidelity-')), 'models.json');
  writeFileSync(
    file,
    JSON.stringify({
      models: {
        'claude-standin': { upstreams: [{ type: 'anthropic', url: claude.url, api_key: 'sk-ant-standin' }] },
        'gpt-standin': { upstreams: [{ type: 'openai', url: `${gpt.url}/v1`, api_key: 'sk-standin' }] },
        'responses-standin': { upstreams: [{ type: 'responses', url: `${responses.url}/v1`, api_key: 'sk-standin' }] },
      },
    }),
  );
  const env = { ...FAST_ENV, REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'fidelity', MODELS_FILE: file, MOCK_MODELS: '' };
  [edge, producer] = await Promise.all([startEdge(env), startProducer(env)]);
});

afterAll(async () => {
  await edge?.kill('SIGTERM');
  await producer?.kill('SIGTERM');
  await claude?.close();
  await gpt?.close();
  await responses?.close();
  await redis?.stop();
});

async function sse(res: Response): Promise<EventSourceMessage[]> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  parser.feed(await res.text());
  return events;
}

interface Reassembled {
  reasoning: string;
  signature: string;
  text: string;
  calls: { id: string; name: string; args: string }[];
  finish: string | null;
  usage: Record<string, unknown> | null;
}

/** OpenAI chat chunks put back together as the openai SDK's stream helpers do. */
function fromOpenAI(events: EventSourceMessage[]): Reassembled {
  const out: Reassembled = { reasoning: '', signature: '', text: '', calls: [], finish: null, usage: null };
  const calls = new Map<number, { id: string; name: string; args: string }>();
  for (const e of events) {
    if (e.data === '[DONE]') continue;
    const j = JSON.parse(e.data) as { error?: unknown; usage?: Record<string, unknown>; choices?: { delta?: Record<string, unknown>; finish_reason?: string | null }[] };
    if (j.error) throw new Error(`stream failed: ${e.data}`);
    if (j.usage) out.usage = j.usage;
    const c = j.choices?.[0];
    if (!c) continue;
    if (c.finish_reason) out.finish = c.finish_reason;
    const d = c.delta ?? {};
    if (typeof d.reasoning_content === 'string') out.reasoning += d.reasoning_content;
    if (typeof d.content === 'string') out.text += d.content;
    for (const tc of (d.tool_calls as { index: number; id?: string; function?: { name?: string; arguments?: string } }[] | undefined) ?? []) {
      let call = calls.get(tc.index);
      if (!call) {
        call = { id: tc.id ?? '', name: tc.function?.name ?? '', args: '' };
        calls.set(tc.index, call);
      }
      call.args += tc.function?.arguments ?? '';
    }
  }
  out.calls = [...calls.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
  return out;
}

/** Anthropic stream events put back together by content block, as the Anthropic SDK does. */
function fromAnthropic(events: EventSourceMessage[]): Reassembled {
  const out: Reassembled = { reasoning: '', signature: '', text: '', calls: [], finish: null, usage: null };
  const blocks = new Map<number, { type: string; id?: string; name?: string; json: string }>();
  for (const e of events) {
    const j = JSON.parse(e.data) as Record<string, unknown> & { index?: number };
    if (e.event === 'error') throw new Error(`stream failed: ${e.data}`);
    if (e.event === 'content_block_start') {
      const b = j.content_block as { type: string; id?: string; name?: string };
      blocks.set(j.index as number, { type: b.type, id: b.id, name: b.name, json: '' });
    } else if (e.event === 'content_block_delta') {
      const d = j.delta as Record<string, string>;
      if (d.type === 'thinking_delta') out.reasoning += d.thinking;
      else if (d.type === 'signature_delta') out.signature += d.signature;
      else if (d.type === 'text_delta') out.text += d.text;
      else if (d.type === 'input_json_delta') {
        const b = blocks.get(j.index as number);
        if (b?.type !== 'tool_use') throw new Error(`input_json_delta outside a tool_use block: ${e.data}`);
        b.json += d.partial_json;
      }
    } else if (e.event === 'message_delta') {
      out.finish = (j.delta as { stop_reason: string }).stop_reason;
      out.usage = j.usage as Record<string, unknown>;
    }
  }
  out.calls = [...blocks.entries()].sort((a, b) => a[0] - b[0]).flatMap(([, b]) => (b.type === 'tool_use' ? [{ id: b.id ?? '', name: b.name ?? '', args: b.json }] : []));
  return out;
}

const post = (path: string, body: unknown) => fetch(`${edge.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The same calls, compared as a client would: same ids and names, arguments that parse to the same JSON. */
function expectSameCalls(got: Reassembled['calls']): void {
  expect(got.map((c) => [c.id, c.name])).toEqual(WANT.calls.map((c) => [c.id, c.name]));
  expect(got.map((c) => JSON.parse(c.args))).toEqual(WANT.calls.map((c) => JSON.parse(c.args)));
  // Byte for byte, not just equivalent: no piece was lost or reordered.
  expect(got.map((c) => c.args)).toEqual(WANT.calls.map((c) => c.args));
}

describe('upstream fidelity, end to end', () => {
  let fromClaude = '';
  let fromGpt = '';

  it('an OpenAI chat request to an Anthropic upstream: the upstream gets it translated; the tool calls, reasoning and usage come back as OpenAI chunks', async () => {
    const res = await post('/v1/chat/completions', {
      model: 'claude-standin',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 4000,
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather and time where this was taken?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}` } },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_00', type: 'function', function: { name: 'locate', arguments: '{"photo":1}' } }] },
        { role: 'tool', tool_call_id: 'toolu_00', content: 'Paris' },
      ],
      tools: [
        { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: SCHEMA } },
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
      ],
      tool_choice: 'required',
      parallel_tool_calls: true,
      reasoning_effort: 'low',
    });
    fromClaude = res.headers.get('x-generation-id') ?? '';
    const got = fromOpenAI(await sse(res));

    const sent = claude.requests.at(-1);
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.headers['x-api-key']).toBe('sk-ant-standin');
    expect(sent?.body).toMatchObject({
      model: 'claude-standin',
      system: 'Be brief.',
      max_tokens: 4000,
      thinking: { type: 'enabled', budget_tokens: 2048 },
      tools: [
        { name: 'get_weather', description: 'Weather for a city', input_schema: SCHEMA },
        { name: 'get_time', input_schema: { type: 'object', properties: { tz: { type: 'string' } } } },
      ],
      tool_choice: { type: 'any' },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather and time where this was taken?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_00', name: 'locate', input: { photo: 1 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_00', content: 'Paris' }] },
      ],
    });

    expect(got.reasoning).toBe(WANT.reasoning);
    expect(got.text).toBe(WANT.text);
    expectSameCalls(got.calls);
    expect(got.finish).toBe('tool_calls');
    expect(got.usage).toMatchObject({ prompt_tokens: 230, completion_tokens: 61, total_tokens: 291, prompt_tokens_details: { cached_tokens: 200 } });
  });

  it('an Anthropic messages request to an OpenAI-compatible upstream: the upstream gets OpenAI fields; the tool calls, thinking and usage come back as Anthropic events', async () => {
    const res = await post('/v1/messages', {
      model: 'gpt-standin',
      max_tokens: 4000,
      stream: true,
      system: 'Be brief.',
      thinking: { type: 'enabled', budget_tokens: 2048 },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather and time where this was taken?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Find the place first.', signature: 'sig-prev' },
            { type: 'tool_use', id: 'toolu_00', name: 'locate', input: { photo: 1 } },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_00', content: 'Paris' }] },
      ],
      tools: [
        { name: 'get_weather', description: 'Weather for a city', input_schema: SCHEMA },
        { name: 'get_time', input_schema: { type: 'object', properties: { tz: { type: 'string' } } } },
      ],
      tool_choice: { type: 'any' },
    });
    fromGpt = res.headers.get('x-generation-id') ?? '';
    const got = fromAnthropic(await sse(res));

    const sent = gpt.requests.at(-1);
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(sent?.headers.authorization).toBe('Bearer sk-standin');
    expect(sent?.body).toMatchObject({
      model: 'gpt-standin',
      max_tokens: 4000,
      reasoning_effort: 'low',
      tools: [
        { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: SCHEMA } },
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
      ],
      tool_choice: 'required',
    });
    const messages = sent?.body.messages as Record<string, unknown>[];
    expect(messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    expect(messages[1]).toMatchObject({ role: 'user', content: [{ type: 'text' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}` } }] });
    expect(messages[2]).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'toolu_00', type: 'function', function: { name: 'locate' } }] });
    const prior = (messages[2]?.tool_calls ?? []) as { function: { arguments: string } }[];
    expect(JSON.parse(prior[0]?.function.arguments ?? '')).toEqual({ photo: 1 });
    expect(messages[3]).toEqual({ role: 'tool', tool_call_id: 'toolu_00', content: 'Paris' });

    expect(got.reasoning).toBe(WANT.reasoning);
    expect(got.text).toBe(WANT.text);
    expectSameCalls(got.calls);
    expect(got.finish).toBe('tool_use');
    expect(got.usage).toMatchObject({ output_tokens: 61 });
  });

  it('each generation watched in the other format reassembles to the same tool calls and reasoning; the Anthropic signature survives', async () => {
    expect(fromClaude).toMatch(/^gen_/);
    expect(fromGpt).toMatch(/^gen_/);
    const claudeAsAnthropic = fromAnthropic(await sse(await fetch(`${edge.url}/v1/generations/${fromClaude}/events?format=anthropic`)));
    const gptAsOpenAI = fromOpenAI(await sse(await fetch(`${edge.url}/v1/generations/${fromGpt}/events?format=openai&include_usage=true`)));
    for (const got of [claudeAsAnthropic, gptAsOpenAI]) {
      expect(got.reasoning).toBe(WANT.reasoning);
      expect(got.text).toBe(WANT.text);
      expectSameCalls(got.calls);
    }
    expect(claudeAsAnthropic.signature).toBe('sig-e2e-1');
    expect(claudeAsAnthropic.finish).toBe('tool_use');
    expect(gptAsOpenAI.finish).toBe('tool_calls');
    expect(gptAsOpenAI.usage).toMatchObject({
      prompt_tokens: 230,
      completion_tokens: 61,
      completion_tokens_details: { reasoning_tokens: 9 },
      prompt_tokens_details: { cached_tokens: 200 },
    });
  });

  it('an Anthropic messages request to a Responses-API upstream: function_call items and reasoning summaries come back as tool_use and thinking blocks', async () => {
    const res = await post('/v1/messages', {
      model: 'responses-standin',
      max_tokens: 16000,
      stream: true,
      thinking: { type: 'enabled', budget_tokens: 9000 },
      messages: [
        { role: 'user', content: 'Weather and time in Paris?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_00', name: 'locate', input: { q: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_00', content: 'found' }] },
      ],
      tools: [{ name: 'get_weather', input_schema: SCHEMA }],
    });
    const got = fromAnthropic(await sse(res));
    expect(responses.requests.at(-1)?.body).toMatchObject({
      model: 'responses-standin',
      max_output_tokens: 16000,
      reasoning: { effort: 'high' },
      tools: [{ type: 'function', name: 'get_weather', parameters: SCHEMA }],
      input: [
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather and time in Paris?' }] },
        { type: 'function_call', call_id: 'toolu_00', name: 'locate' },
        { type: 'function_call_output', call_id: 'toolu_00', output: 'found' },
      ],
    });
    expect(got.reasoning).toBe(WANT.reasoning);
    expect(got.signature).toBe('sig-e2e-1');
    expect(got.text).toBe(WANT.text);
    expectSameCalls(got.calls);
    expect(got.finish).toBe('tool_use');
  });

  describe('Anthropic cache_control breakpoints', () => {
    const eph = { type: 'ephemeral' };
    const hour = { type: 'ephemeral', ttl: '1h' };
    /** A /v1/messages body with a breakpoint at every place Anthropic takes one. */
    const cachedBody = (model: string) => ({
      model,
      max_tokens: 4000,
      stream: true,
      system: [
        { type: 'text', text: 'Long standing rules.', cache_control: hour },
        { type: 'text', text: ' Be brief.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather and time where this was taken?', cache_control: eph },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 }, cache_control: eph },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Locating.', cache_control: eph },
            { type: 'tool_use', id: 'toolu_00', name: 'locate', input: { photo: 1 }, cache_control: eph },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_00', content: [{ type: 'text', text: 'Paris', cache_control: eph }], cache_control: eph }] },
      ],
      tools: [
        { name: 'get_weather', description: 'Weather for a city', input_schema: SCHEMA },
        { name: 'get_time', input_schema: { type: 'object', properties: { tz: { type: 'string' } } }, cache_control: hour },
      ],
    });

    it('reach an Anthropic upstream exactly where the caller put them; cache tokens come back in Anthropic usage', async () => {
      const body = cachedBody('claude-standin');
      const res = await post('/v1/messages', body);
      const got = fromAnthropic(await sse(res));
      expect(got.text).toBe(WANT.text);
      const sent = claude.requests.at(-1);
      expect(sent?.path).toBe('/v1/messages');
      // Exactly as the caller sent them: every block, marker and tool (nothing added, nothing lost).
      expect(sent?.body.system).toEqual(body.system);
      expect(sent?.body.messages).toEqual(body.messages);
      expect(sent?.body.tools).toEqual(body.tools);
      expect(JSON.stringify(sent?.body).match(/cache_control/g)).toHaveLength(8);
      // The stand-in reports 230 prompt tokens: 10 uncached, 200 read from the cache, 20 written to
      // it; Anthropic's fields count each once. An OpenAI viewer sees 230 with 200 cached.
      expect(got.usage).toEqual({ input_tokens: 10, cache_read_input_tokens: 200, cache_creation_input_tokens: 20, output_tokens: 61 });
      const gen = res.headers.get('x-generation-id') ?? '';
      const asOpenAI = fromOpenAI(await sse(await fetch(`${edge.url}/v1/generations/${gen}/events?format=openai&include_usage=true`)));
      expect(asOpenAI.usage).toMatchObject({ prompt_tokens: 230, prompt_tokens_details: { cached_tokens: 200 } });
      expect(asOpenAI.usage?.prompt_tokens_details).toEqual({ cached_tokens: 200 });
    });

    it('are left out for OpenAI-compatible and Responses upstreams (a caching hint they have no field for), the rest of the request intact', async () => {
      for (const [model, upstream] of [
        ['gpt-standin', gpt],
        ['responses-standin', responses],
      ] as const) {
        const got = fromAnthropic(await sse(await post('/v1/messages', cachedBody(model))));
        expect(got.text).toBe(WANT.text);
        const sent = upstream.requests.at(-1);
        expect(JSON.stringify(sent?.body)).not.toContain('cache_control');
        if (model === 'gpt-standin') {
          const messages = sent?.body.messages as Record<string, unknown>[];
          // Text-only content is a string again, as before markers were kept.
          expect(messages[0]).toEqual({ role: 'system', content: 'Long standing rules. Be brief.' });
          expect(messages[1]).toEqual({
            role: 'user',
            content: [
              { type: 'text', text: 'Weather and time where this was taken?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}` } },
            ],
          });
          expect(messages[2]).toMatchObject({ role: 'assistant', content: 'Locating.', tool_calls: [{ id: 'toolu_00', type: 'function', function: { name: 'locate' } }] });
          expect(messages[3]).toEqual({ role: 'tool', tool_call_id: 'toolu_00', content: 'Paris' });
          expect(sent?.body.tools).toEqual([
            { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: SCHEMA } },
            { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
          ]);
        } else {
          expect(sent?.body).toMatchObject({
            input: [
              { type: 'message', role: 'system' },
              { type: 'message', role: 'user' },
              { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Locating.' }] },
              { type: 'function_call', call_id: 'toolu_00', name: 'locate' },
              { type: 'function_call_output', call_id: 'toolu_00', output: 'Paris' },
            ],
          });
        }
      }
    });
  });

  it('what an Anthropic upstream cannot carry is a 400 unsupported_by_upstream, and nothing reaches the upstream', async () => {
    const before = claude.requests.length;
    const res = await post('/v1/chat/completions', { model: 'claude-standin', logprobs: true, messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error).toMatchObject({ code: 'unsupported_by_upstream', type: 'invalid_request_error' });
    expect(body.error.message).toMatch(/logprobs/);
    expect(claude.requests.length).toBe(before);
  });
});
