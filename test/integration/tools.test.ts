import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import { type MockPart, mockOutput } from '@tokencast/producer';
import { type GenerationRequest, parseChatRequest, parseMessagesRequest } from '@tokencast/protocol';
import { createParser } from 'eventsource-parser';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { meta, submit } from './helpers.js';

/**
 * Tool calls and reasoning end to end: an edge and a producer (separate processes) on a real
 * redis-server, the mock model calling a tool. The official openai SDK's stream helper, raw SSE
 * resumed in the middle of a tool call's arguments, the same generation watched as Anthropic
 * events, and the stored log read with redis-cli's commands must all agree with the mock's
 * reference, which is computed without any of them.
 */
const run = promisify(execFile);
let redis: RedisServer;
let edge: Proc;
let producer: Proc;
let client: OpenAI;
const PREFIX = 'tools';

beforeAll(async () => {
  redis = await startRedisServer();
  const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: PREFIX };
  [edge, producer] = await Promise.all([startEdge(env), startProducer({ ...env, MOCK_TOKENS_PER_SECOND: '60', MOCK_TTFT_MS: '20' })]);
  client = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 });
});

afterAll(async () => {
  await Promise.all([edge?.kill('SIGTERM'), producer?.kill('SIGTERM')]);
  await redis?.stop();
});

const LIMITS = { maxTokensCap: 1_000_000, maxPromptChars: 1_000_000 };
const weather = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    country: { type: 'string' },
    days: { type: 'integer', minimum: 1, maximum: 14 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    hourly: { type: 'boolean' },
    fields: { type: 'array', items: { type: 'string', enum: ['temperature', 'wind', 'rain'] }, minItems: 2 },
  },
  required: ['city', 'days', 'unit'],
  additionalProperties: false,
};
const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather forecast for a city', parameters: weather, strict: true } }];

function body(prompt: string, extra: Record<string, unknown> = {}) {
  return { model: 'mock', messages: [{ role: 'user' as const, content: prompt }], tools, tool_choice: 'required', ...extra };
}

function ref(b: Record<string, unknown>): { parts: MockPart[]; finishReason: string } {
  return mockOutput(parseChatRequest(b, LIMITS) as GenerationRequest);
}

function toolPart(parts: MockPart[]): Extract<MockPart, { type: 'tool_call' }> {
  const p = parts.find((x) => x.type === 'tool_call');
  if (p?.type !== 'tool_call') throw new Error('the reference has no tool call');
  return p;
}

interface Frame {
  id: number | null;
  event: string | null;
  data: string;
}

/** Reads SSE until the server ends it, or until `stopWhen` says a frame is the last one we want. */
async function readFrames(url: string, opts: { headers?: Record<string, string>; stopWhen?: (f: Frame) => boolean } = {}): Promise<{ frames: Frame[]; stopped: boolean }> {
  const ac = new AbortController();
  const frames: Frame[] = [];
  let stopped = false;
  const res = await fetch(url, { headers: opts.headers, signal: ac.signal });
  expect(res.status).toBe(200);
  const parser = createParser({
    onEvent: (ev) => {
      if (stopped) return;
      const f = { id: ev.id ? Number(ev.id) : null, event: ev.event ?? null, data: ev.data };
      frames.push(f);
      if (opts.stopWhen?.(f)) stopped = true;
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (stopped) {
        ac.abort();
        break;
      }
    }
  } catch (err) {
    if (!stopped) throw err;
  }
  return { frames, stopped };
}

type Delta = { content?: string; reasoning_content?: string; tool_calls?: { index: number; id?: string; function: { name?: string; arguments?: string } }[] };
const chunkOf = (f: Frame) => JSON.parse(f.data) as { choices: { delta: Delta; finish_reason: string | null }[] };

/** The arguments carried by OpenAI chunks (tool call index 0). */
function argsOf(frames: readonly Frame[]): string {
  return frames
    .filter((f) => f.data !== '[DONE]')
    .map((f) => chunkOf(f).choices[0]?.delta.tool_calls?.[0]?.function.arguments ?? '')
    .join('');
}

describe('tool calls through the openai SDK', () => {
  it('chat.completions.stream with tools: the tool call and its parsed arguments are the reference', async () => {
    const b = body('What is the weather in Oslo this week?');
    const expected = toolPart(ref(b).parts);
    const stream = client.chat.completions.stream(b as unknown as OpenAI.ChatCompletionStreamParams);
    const done: { name: string; index: number; arguments: string; parsed_arguments: unknown }[] = [];
    let deltas = 0;
    stream.on('tool_calls.function.arguments.delta', () => {
      deltas++;
    });
    stream.on('tool_calls.function.arguments.done', (ev) => done.push(ev));
    const final = await stream.finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call).toMatchObject({ id: expected.id, type: 'function', function: { name: 'get_weather', arguments: expected.arguments } });
    expect(done).toEqual([{ name: 'get_weather', index: 0, arguments: expected.arguments, parsed_arguments: JSON.parse(expected.arguments) }]);
    // The arguments arrived in pieces, not as one blob.
    expect(deltas).toBeGreaterThan(3);
    const parsed = done[0]?.parsed_arguments as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['city', 'country', 'days', 'unit', 'hourly', 'fields']);
  });

  it('the second turn (assistant tool_calls + tool result) is accepted and answered in text', async () => {
    const first = await client.chat.completions.create(body('Weather in Oslo? [mock:len=8]') as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const msg = first.choices[0]?.message as OpenAI.ChatCompletionMessage;
    expect(msg.tool_calls?.[0]?.type).toBe('function');
    const second = await client.chat.completions.create({
      model: 'mock',
      tools,
      messages: [{ role: 'user', content: 'Weather in Oslo? [mock:len=8]' }, msg, { role: 'tool', tool_call_id: msg.tool_calls?.[0]?.id as string, content: '{"temp": 3}' }],
    });
    expect(second.choices[0]?.finish_reason).toBe('stop');
    expect(second.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });

  it('an unsupported field is a 400 the SDK surfaces, not a silent drop', async () => {
    const err = await client.chat.completions
      .create({ ...body('x'), functions: [{ name: 'f' }] } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('unsupported_parameter');
  });
});

describe('tool use and thinking through the Anthropic SDK (POST /v1/messages)', () => {
  it('messages.stream with tools and thinking: the SDK reassembles the thinking (signed) and the tool_use input of the reference', async () => {
    const anthropic = new Anthropic({ baseURL: edge.url, apiKey: 'unused', maxRetries: 0, timeout: 30_000 });
    const params = {
      model: 'mock-reasoning',
      max_tokens: 2048,
      thinking: { type: 'enabled' as const, budget_tokens: 1024 },
      tools: [{ name: 'get_weather', description: 'Weather forecast for a city', input_schema: weather as unknown as Anthropic.Tool.InputSchema }],
      tool_choice: { type: 'any' as const },
      messages: [{ role: 'user' as const, content: '[mock:reasoning=12] Weather in Tromsø?' }],
    };
    // The reference from the same request in the normal form, as the edge stores it.
    const expected = mockOutput(parseMessagesRequest({ ...params, stream: true }, LIMITS)).parts;
    const call = toolPart(expected);
    const reasoning = expected.find((p) => p.type === 'reasoning');
    const stream = anthropic.messages.stream(params);
    const json: string[] = [];
    stream.on('inputJson', (partial) => json.push(partial));
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    expect(final.content).toEqual([
      { type: 'thinking', thinking: reasoning?.type === 'reasoning' ? reasoning.text : 'missing', signature: reasoning?.type === 'reasoning' ? reasoning.signature : 'missing' },
      { type: 'tool_use', id: call.id, name: 'get_weather', input: JSON.parse(call.arguments) },
    ]);
    expect(json.length).toBeGreaterThan(3);
    expect(json.join('')).toBe(call.arguments);
    expect(final.usage.output_tokens).toBeGreaterThan(0);

    // Not streaming: the same blocks in one message.
    const whole = await anthropic.messages.create(params);
    expect(whole.content).toEqual(final.content);
    expect(whole.stop_reason).toBe('tool_use');
  });

  it('an unsupported block is an Anthropic-shaped 400 the SDK surfaces', async () => {
    const anthropic = new Anthropic({ baseURL: edge.url, apiKey: 'unused', maxRetries: 0 });
    const err = await anthropic.messages
      .create({ model: 'mock', max_tokens: 16, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }] }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).message).toContain('document');
  });
});

describe('resume in the middle of a tool call, and the same log as Anthropic events', () => {
  it('Last-Event-ID inside the arguments gives exactly the rest; ?format=anthropic reassembles the same call', async () => {
    // A long call (60 arguments, about 2 s of pieces at 60 tokens/s), so the drop and the resume happen while it streams.
    const fields = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`field_${i}`, { type: 'integer', minimum: 0, maximum: 9 }]));
    const formTools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: fields } } }];
    const b = body('[mock:reasoning=20] Weather for the trip?', { model: 'mock-reasoning', tools: formTools });
    const expected = ref(b).parts;
    const call = toolPart(expected);
    const id = await submit(edge.url, b);
    const url = `${edge.url}/v1/generations/${id}/events`;

    // A viewer that drops right after the second piece of the arguments, while the model still writes them.
    let pieces = 0;
    const head = await readFrames(url, { stopWhen: (f) => f.id !== null && argsOf([f]).length > 0 && ++pieces === 2 });
    expect(head.stopped).toBe(true);
    const k = head.frames[head.frames.length - 1]?.id as number;
    expect((await meta(edge.url, id)).status).toBe('running');
    const tail = await readFrames(url, { headers: { 'last-event-id': String(k) } });
    const full = await readFrames(url);

    const ids = (fs: readonly Frame[]) => fs.flatMap((f) => (f.id === null ? [] : [f.id]));
    expect(ids(tail.frames)[0]).toBe(k + 1);
    expect(tail.frames).toEqual(full.frames.slice(full.frames.findIndex((f) => f.id === k + 1)));
    expect(argsOf(head.frames) + argsOf(tail.frames)).toBe(call.arguments);
    expect(argsOf(head.frames).length).toBeGreaterThan(0);
    expect(argsOf(tail.frames).length).toBeGreaterThan(0);
    // The whole OpenAI stream: reasoning_content, then the tool call's start, then its arguments.
    const deltas = full.frames.filter((f) => f.data !== '[DONE]').map((f) => chunkOf(f).choices[0]);
    const reasoning = expected.find((p) => p.type === 'reasoning');
    expect(deltas.map((c) => c?.delta.reasoning_content ?? '').join('')).toBe(reasoning?.type === 'reasoning' ? reasoning.text : 'missing');
    expect(deltas.find((c) => c?.delta.tool_calls?.[0]?.id)?.delta.tool_calls?.[0]).toEqual({
      index: 0,
      id: call.id,
      type: 'function',
      function: { name: 'get_weather', arguments: '' },
    });
    expect(deltas.map((c) => c?.finish_reason).filter(Boolean)).toEqual(['tool_calls']);

    // The same generation as Anthropic events, resumed at the same offset.
    const anth = await readFrames(`${url}?format=anthropic`);
    const events = anth.frames.map((f) => ({ event: f.event, ...JSON.parse(f.data) }));
    const starts = events.filter((e) => e.event === 'content_block_start');
    expect(starts.map((e) => [e.index, e.content_block.type])).toEqual([
      [0, 'thinking'],
      [1, 'tool_use'],
    ]);
    expect(starts[1].content_block).toEqual({ type: 'tool_use', id: call.id, name: 'get_weather', input: {} });
    const json = events.filter((e) => e.event === 'content_block_delta' && e.delta.type === 'input_json_delta');
    expect(json.every((e) => e.index === 1)).toBe(true);
    expect(json.length).toBeGreaterThan(3);
    expect(json.map((e) => e.delta.partial_json).join('')).toBe(call.arguments);
    expect(JSON.parse(json.map((e) => e.delta.partial_json).join(''))).toEqual(JSON.parse(call.arguments));
    const thinking = events.filter((e) => e.event === 'content_block_delta' && e.index === 0);
    expect(
      thinking
        .filter((e) => e.delta.type === 'thinking_delta')
        .map((e) => e.delta.thinking)
        .join(''),
    ).toBe(reasoning?.type === 'reasoning' ? reasoning.text : '');
    expect(thinking.filter((e) => e.delta.type === 'signature_delta').map((e) => e.delta.signature)).toEqual([reasoning?.type === 'reasoning' ? reasoning.signature : '']);
    expect(events.filter((e) => e.event === 'content_block_stop').map((e) => e.index)).toEqual([0, 1]);
    expect(events.find((e) => e.event === 'message_delta')?.delta.stop_reason).toBe('tool_use');
    expect(events[events.length - 1]?.event).toBe('message_stop');
    const anthTail = await readFrames(`${url}?format=anthropic`, { headers: { 'last-event-id': String(k) } });
    const tailJson = anthTail.frames.flatMap((f) => {
      const e = JSON.parse(f.data);
      return f.event === 'content_block_delta' && e.delta.type === 'input_json_delta' ? [e.delta.partial_json as string] : [];
    });
    expect(argsOf(head.frames) + tailJson.join('')).toBe(call.arguments);
  });
});

describe('the stored log in Redis', () => {
  it('is readable with XRANGE (c "<ms>:<name>" …, a "<ms>:<arguments>" …, e "<ms>:<status>" …) and costs what plain text cost before', async () => {
    const r = redis.client();
    const b = body('Weather in Bergen?');
    const call = toolPart(ref(b).parts);
    const id = await submit(edge.url, b);
    await waitFor('the generation to end', async () => (await meta(edge.url, id)).status === 'completed');
    const key = `${PREFIX}:{${id}}:events`;
    const entries = await r.xrange(key, '-', '+');
    const [startId, startFields] = entries[0] as [string, string[]];
    expect(startId).toBe('1-1'); // offset 1, written under fence 1
    expect(startFields).toEqual(['c', expect.stringMatching(/^\d+:get_weather$/), 'id', call.id, 'p', '0', 'i', '0']);
    const args = entries.slice(1, -1).map(([, f]) => f);
    for (const f of args) {
      expect(f[0]).toBe('a');
      expect(f[1]).toMatch(/^\d+(,\d+)*:/);
      expect(f.slice(2, 6)).toEqual(['p', '0', 'i', '0']);
    }
    expect(args.map((f) => (f[1] as string).slice((f[1] as string).indexOf(':') + 1)).join('')).toBe(call.arguments);
    const end = (entries[entries.length - 1] as [string, string[]])[1];
    expect(end[0]).toBe('e');
    expect(end[1]).toMatch(/^\d+:completed$/);
    expect(end.slice(2, 4)).toEqual(['f', 'tool_calls']);
    expect(end.slice(-2)).toEqual(['np', '1']);
    // And with redis-cli itself, as the README shows it.
    const cli = await run('redis-cli', ['-p', String(redis.port), 'XRANGE', key, '-', '+']);
    const lines = cli.stdout.trim().split('\n');
    expect(lines.slice(0, 9)).toEqual(['1-1', 'c', expect.stringMatching(/^\d+:get_weather$/), 'id', call.id, 'p', '0', 'i', '0']);
    expect(lines).toContain('tool_calls');

    // Bytes per stored event, with MEMORY USAGE on copies of the entries: the whole stream and its
    // marginal cost per event past Redis's first listpack node (100 entries), whose first entry
    // decides which field names the entries after it share.
    const mem = async (k: string) => Number(await r.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'));
    const copy = async (to: string, from: readonly [string, string[]][], drop: (name: string) => boolean = () => false) => {
      await r.del(to);
      for (const [eid, f] of from) {
        const kept: string[] = [];
        for (let i = 0; i + 1 < f.length; i += 2) if (!drop(f[i] as string)) kept.push(f[i] as string, f[i + 1] as string);
        await r.xadd(to, eid, ...kept);
      }
      return mem(to);
    };
    // Marginal bytes per event: entries like these (cycled, after the stream's real first entry)
    // at 1000 and at 3000 events; the difference is whole listpack nodes, not one node's slack.
    const marginal = async (from: readonly [string, string[]][]) => {
      const body = from.slice(1, -1);
      const k = `${PREFIX}:m`;
      await r.del(k);
      let at1000 = 0;
      for (let i = 0; i < 3000; i++) {
        const f = i === 0 ? (from[0] as [string, string[]])[1] : (body[(i - 1) % body.length] as [string, string[]])[1];
        await r.xadd(k, `${i + 1}-1`, ...f); // offset-fence, as the store writes them
        if (i === 999) at1000 = await mem(k);
      }
      return ((await mem(k)) - at1000) / 2000;
    };
    const text = await submit(edge.url, { model: 'mock', messages: [{ role: 'user', content: '[mock:len=300] measure me' }] });
    const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`field_${i}`, { type: 'integer', minimum: 0, maximum: 9 }]));
    const longCall = await submit(edge.url, {
      ...body('long arguments'),
      tools: [{ type: 'function', function: { name: 'fill_form', parameters: { type: 'object', properties: many } } }],
    });
    await waitFor(
      'the measured generations to end',
      async () => (await meta(edge.url, text)).status === 'completed' && (await meta(edge.url, longCall)).status === 'completed',
      60_000,
    );
    const textEntries = await r.xrange(`${PREFIX}:{${text}}:events`, '-', '+');
    const argEntries = await r.xrange(`${PREFIX}:{${longCall}}:events`, '-', '+');
    const typed = await mem(`${PREFIX}:{${text}}:events`);
    // The same entries as text was stored before typed parts: no `s`, no `np`.
    const before = await copy(`${PREFIX}:legacy-shape`, textEntries, (name) => name === 's' || name === 'np');
    // The payload's characters: the opening value after its ms and colon.
    const chars = (f: string[]) => (f[1] as string).length - (f[1] as string).indexOf(':') - 1;
    const textChars = textEntries.slice(0, -1).reduce((n, [, f]) => n + chars(f), 0) / (textEntries.length - 1);
    const argChars = argEntries.slice(1, -1).reduce((n, [, f]) => n + chars(f), 0) / (argEntries.length - 2);
    console.log(
      `stored bytes (MEMORY USAGE): text ${textEntries.length} events = ${typed} B (${(typed / textEntries.length).toFixed(1)} B/event; as stored before typed parts ${before} B), ` +
        `marginal ${(await marginal(textEntries)).toFixed(1)} B per text event (avg ${textChars.toFixed(1)} chars); ` +
        `tool args ${argEntries.length} events = ${await mem(`${PREFIX}:{${longCall}}:events`)} B, marginal ${(await marginal(argEntries)).toFixed(1)} B per args event (avg ${argChars.toFixed(1)} chars)`,
    );
    // The only addition to a plain-text log is `np 1` on its end entry.
    // (allowing for the allocator's size classes, which MEMORY USAGE reports).
    expect(typed - before).toBeLessThanOrEqual(64);
  });
});
