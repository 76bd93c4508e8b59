import { mockOutput, mockText } from '@tokencast/producer';
import { parseChatRequest, parseResponsesRequest } from '@tokencast/protocol';
import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventErrors, resourceErrors } from '../support/openresponses.js';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

/**
 * The official OpenAI SDK's Responses API against a real edge (embedded: edge + producer in one
 * process) on a real redis-server. Every streamed event is also checked against the Open
 * Responses schemas, and every Response object against ResponseResource.
 */
const LIMITS = { maxTokensCap: 1_000_000, maxPromptChars: 1_000_000 };
let redis: RedisServer;
let edge: Proc;
let client: OpenAI;

beforeAll(async () => {
  redis = await startRedisServer();
  edge = await startEmbedded({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'resp', MOCK_TOKENS_PER_SECOND: '2000' });
  client = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
});

afterAll(async () => {
  await edge?.kill('SIGTERM');
  await redis?.stop();
});

/** What the mock answers to this Responses body (as any producer would). */
function reference(body: Record<string, unknown>, previous: Parameters<typeof parseResponsesRequest>[2] = null) {
  return mockText(parseResponsesRequest(body, LIMITS, previous));
}

/** Everything the mock writes for a Responses body, gathered by kind (the reference a test compares with). */
function script(body: Record<string, unknown>, previous: Parameters<typeof parseResponsesRequest>[2] = null) {
  const ref = mockOutput(parseResponsesRequest(body, LIMITS, previous));
  const out = { reasoning: '', signature: '', text: '', callId: '', name: '', args: '', finishReason: ref.finishReason };
  for (const p of ref.parts) {
    if (p.type === 'reasoning') {
      out.reasoning += p.text;
      out.signature = p.signature;
    } else if (p.type === 'text') out.text += p.text;
    else if (p.type === 'tool_call') {
      out.callId = p.id;
      out.name = p.name;
      out.args += p.arguments;
    }
  }
  return out;
}

const weather = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 } },
    required: ['city', 'days'],
    additionalProperties: false,
  },
  strict: true,
};

async function collect(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
  const out: ResponseStreamEvent[] = [];
  for await (const ev of stream) out.push(ev);
  return out;
}

function expectCompliant(events: readonly ResponseStreamEvent[]): void {
  for (const ev of events) expect(eventErrors(ev), ev.type).toEqual([]);
  const seqs = events.map((e) => e.sequence_number);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] as number);
}

/** The text of a Response object's messages (output_text is an SDK convenience, not on the wire). */
function outputText(r: OpenAI.Responses.Response): string {
  return r.output.map((i) => (i.type === 'message' ? i.content.map((c) => (c.type === 'output_text' ? c.text : '')).join('') : '')).join('');
}

function textOf(events: readonly ResponseStreamEvent[]): string {
  return events.map((e) => (e.type === 'response.output_text.delta' ? e.delta : '')).join('');
}

describe('OpenAI SDK: Responses API', () => {
  it('non-streaming: the Response object carries the reference text and usage', async () => {
    const body = { model: 'mock', input: 'Tell me about resumable streams', instructions: 'Be brief.', metadata: { run: 't1' } };
    const ref = reference(body);
    const res = await client.responses.create(body);
    expect(resourceErrors(res)).toEqual([]);
    expect(res.id).toMatch(/^resp_[a-z2-7]{26}$/);
    expect(res.status).toBe('completed');
    expect(res.output_text).toBe(ref.text);
    expect(res.instructions).toBe('Be brief.');
    expect(res.metadata).toEqual({ run: 't1' });
    expect(res.usage?.output_tokens).toBe(ref.tokens);
    // Retrieving it later gives the same object.
    expect(await client.responses.retrieve(res.id)).toEqual(res);
  });

  it('streaming: responses.create({stream:true}) and responses.stream() give the reference text in compliant events', async () => {
    const body = { model: 'mock', input: [{ role: 'user' as const, content: [{ type: 'input_text' as const, text: 'Stream me a story [mock:len=60]' }] }] };
    const ref = reference(body);
    const events = await collect(await client.responses.create({ ...body, stream: true }));
    expectCompliant(events);
    expect(events.map((e) => e.type).slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(textOf(events)).toBe(ref.text);
    const last = events[events.length - 1];
    expect(last?.type).toBe('response.completed');
    if (last?.type !== 'response.completed') throw new Error('no completed event');
    expect(resourceErrors(last.response)).toEqual([]);
    expect(outputText(last.response)).toBe(ref.text);

    const helper = client.responses.stream(body);
    let deltas = '';
    helper.on('response.output_text.delta', (e) => {
      deltas += e.delta;
    });
    const final = await helper.finalResponse();
    expect(deltas).toBe(ref.text);
    expect(final.output_text).toBe(ref.text);
    expect(final.status).toBe('completed');
  });

  it('max_output_tokens: ends as incomplete with the reference prefix', async () => {
    const body = { model: 'mock', input: '[mock:len=50] short please', max_output_tokens: 16 };
    const ref = reference(body);
    expect(ref.finishReason).toBe('length');
    const events = await collect(await client.responses.create({ ...body, stream: true }));
    expectCompliant(events);
    const last = events[events.length - 1];
    expect(last?.type).toBe('response.incomplete');
    if (last?.type !== 'response.incomplete') throw new Error('no incomplete event');
    expect(last.response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(outputText(last.response)).toBe(ref.text);
  });

  it('background: returns at once; retrieve(id, {stream, starting_after}) resumes exactly after any sequence number', async () => {
    const body = { model: 'mock', input: 'A long background story [mock:len=400]' };
    const ref = reference(body);
    const created = await client.responses.create({ ...body, background: true });
    expect(created.background).toBe(true);
    expect(['queued', 'in_progress']).toContain(created.status);
    expect(resourceErrors(created)).toEqual([]);

    const all = await collect(await client.responses.retrieve(created.id, { stream: true }));
    expectCompliant(all);
    expect(textOf(all)).toBe(ref.text);
    const deltas = all.filter((e) => e.type === 'response.output_text.delta');
    const n = deltas[Math.floor(deltas.length / 2)]?.sequence_number as number;
    const rest = await collect(await client.responses.retrieve(created.id, { stream: true, starting_after: n }));
    expect(rest.map((e) => e.sequence_number)).toEqual(all.filter((e) => e.sequence_number > n).map((e) => e.sequence_number));
    expect(rest).toEqual(all.filter((e) => e.sequence_number > n));
    const seen = all.filter((e) => e.sequence_number <= n);
    expect(textOf(seen) + textOf(rest)).toBe(ref.text);

    const done = await client.responses.retrieve(created.id);
    expect(done.status).toBe('completed');
    expect(done.output_text).toBe(ref.text);
  });

  it('resumes in the middle of a live background response', async () => {
    const slow = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
    const body = { model: 'mock', input: 'Live resume [mock:len=3000]' };
    const ref = reference(body);
    const created = await slow.responses.create({ ...body, background: true });
    // Read part of it, drop the connection, come back with the last sequence number seen.
    const first = await slow.responses.retrieve(created.id, { stream: true });
    const seen: ResponseStreamEvent[] = [];
    for await (const ev of first) {
      seen.push(ev);
      if (seen.filter((e) => e.type === 'response.output_text.delta').length >= 20) break;
    }
    const last = seen[seen.length - 1]?.sequence_number as number;
    const rest = await collect(await slow.responses.retrieve(created.id, { stream: true, starting_after: last }));
    expect(rest[0]?.sequence_number).toBeGreaterThan(last);
    expect(textOf(seen) + textOf(rest)).toBe(ref.text);
    expectCompliant([...seen, ...rest]);
  });

  it('several viewers of one live response, joining at different points, each get exactly their part', async () => {
    const body = { model: 'mock', input: 'Many viewers [mock:len=1500]' };
    const ref = reference(body);
    const created = await client.responses.create({ ...body, background: true });
    // Join once a few events exist (a starting_after past the newest event is a 400).
    const gen = `gen_${created.id.slice(5)}`;
    await waitFor('8 events', async () => ((await (await fetch(`${edge.url}/v1/generations/${gen}`)).json()) as { last_offset: number }).last_offset >= 8, 10_000);
    const starts = [-1, 1, 40, 100];
    const streams = await Promise.all(starts.map(async (n) => collect(await client.responses.retrieve(created.id, { stream: true, ...(n >= 0 ? { starting_after: n } : {}) }))));
    const full = streams[0] as ResponseStreamEvent[];
    expect(textOf(full)).toBe(ref.text);
    expectCompliant(full);
    starts.forEach((n, i) => {
      expect(streams[i], `starting_after=${n}`).toEqual(full.filter((e) => e.sequence_number > n));
    });
  });

  it('cancel: a running background response ends cancelled; delete: it is gone', async () => {
    const created = await client.responses.create({ model: 'mock', input: 'Cancel me [mock:len=100000]', background: true });
    await waitFor('first output', async () => (await client.responses.retrieve(created.id)).output.length > 0, 5_000);
    const cancelled = await client.responses.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    expect(resourceErrors(cancelled)).toEqual([]);
    const events = await collect(await client.responses.retrieve(created.id, { stream: true }));
    expect(events[events.length - 1]).toMatchObject({ type: 'response.incomplete', response: { status: 'cancelled' } });

    await client.responses.delete(created.id);
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('previous_response_id continues the conversation with the earlier output', async () => {
    const first = { model: 'mock', input: 'My name is Ann.', instructions: 'Be kind.' };
    const one = await client.responses.create(first);
    const second = { model: 'mock', input: 'What is my name?', previous_response_id: one.id };
    const ref = reference(second, {
      messages: [
        { role: 'user', content: 'My name is Ann.' },
        { role: 'assistant', content: one.output_text },
      ],
    });
    const two = await client.responses.create(second);
    expect(two.previous_response_id).toBe(one.id);
    expect(two.output_text).toBe(ref.text);
    await expect(client.responses.create({ model: 'mock', input: 'x', previous_response_id: 'resp_aaaaaaaaaaaaaaaaaaaaaaaaaa' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('refuses what it cannot carry with an OpenAI error naming the field', async () => {
    const err = await client.responses.create({ model: 'mock', input: 'x', tools: [{ type: 'web_search' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tools[0].type');
    const res = await fetch(`${edge.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', input: 'x', conversation: 'c' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'conversation' } });
    const bad = await fetch(`${edge.url}/v1/responses/resp_x/../../etc`);
    expect(bad.status).toBe(404);
    const beyond = await fetch(`${edge.url}/v1/responses/resp_aaaaaaaaaaaaaaaaaaaaaaaaaa?stream=true`);
    expect(beyond.status).toBe(404);
  });

  it('tools: responses.stream with reasoning and a required tool call gives the mock reference, in compliant events', async () => {
    const body = { model: 'mock-reasoning', input: 'What is the weather in Paris?', tools: [weather], tool_choice: 'required' as const };
    const ref = script(body);
    expect(ref.finishReason).toBe('tool_calls');
    expect(ref.args.length).toBeGreaterThan(0);
    const stream = client.responses.stream(body);
    const events: ResponseStreamEvent[] = [];
    stream.on('event', (e) => events.push(e));
    const final = await stream.finalResponse();
    expectCompliant(events);
    expect(events.map((e) => e.type)).toContain('response.function_call_arguments.delta');
    expect(events.map((e) => e.type)).toContain('response.reasoning_summary_text.delta');
    const call = final.output.find((o) => o.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', call_id: ref.callId, name: 'get_weather', arguments: ref.args, status: 'completed' });
    expect(JSON.parse(call?.type === 'function_call' ? call.arguments : '')).toEqual(JSON.parse(ref.args));
    const reasoning = final.output.find((o) => o.type === 'reasoning');
    expect(reasoning?.type === 'reasoning' ? reasoning.summary.map((s) => s.text).join('') : '').toBe(ref.reasoning);
    expect(reasoning).toMatchObject({ encrypted_content: ref.signature });
    expect(final.usage?.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    expect(resourceErrors(final)).toEqual([]);
  });

  it('tools: a background response resumed in the middle of the function-call arguments gets exactly the rest', async () => {
    // A slow model (20 ms a piece), so the writer stores the argument pieces as separate events
    // rather than coalescing them, and there is a middle to resume from.
    const slow = await startEmbedded({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'resp-slow', MOCK_TOKENS_PER_SECOND: '50' });
    const sdk = new OpenAI({ baseURL: `${slow.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
    const body = { model: 'mock', input: 'Weather for the week in Oslo', tools: [weather], tool_choice: 'required' as const };
    const ref = script(body);
    const created = await sdk.responses.create({ ...body, background: true });
    const all = await collect(await sdk.responses.retrieve(created.id, { stream: true }));
    expectCompliant(all);
    const deltas = all.filter((e) => e.type === 'response.function_call_arguments.delta');
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    const n = deltas[0]?.sequence_number as number;
    const rest = await collect(await sdk.responses.retrieve(created.id, { stream: true, starting_after: n }));
    await slow.kill('SIGTERM');
    expect(rest).toEqual(all.filter((e) => e.sequence_number > n));
    const first = deltas[0]?.type === 'response.function_call_arguments.delta' ? deltas[0].delta : '';
    const after = rest.map((e) => (e.type === 'response.function_call_arguments.delta' ? e.delta : '')).join('');
    expect(first + after).toBe(ref.args);
    expect(rest.find((e) => e.type === 'response.function_call_arguments.done')).toMatchObject({ arguments: ref.args, name: 'get_weather' });
  });

  it('tools: the agent loop, function_call_output through previous_response_id, answers in text', async () => {
    const first = { model: 'mock', input: 'Plan my trip [mock:tool]', tools: [weather] };
    const one = await client.responses.create(first);
    const call = one.output.find((o) => o.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('expected a function call');
    expect(call.arguments).toBe(script(first).args);
    const second = {
      model: 'mock',
      previous_response_id: one.id,
      input: [{ type: 'function_call_output' as const, call_id: call.call_id, output: '{"temp":21}' }],
      tools: [weather],
    };
    const ref = script(second, {
      messages: [
        { role: 'user', content: 'Plan my trip [mock:tool]' },
        { role: 'assistant', content: '', tool_calls: [{ id: call.call_id, type: 'function', function: { name: call.name, arguments: call.arguments } }] },
      ],
    });
    const two = await client.responses.create(second);
    expect(two.status).toBe('completed');
    expect(two.output_text).toBe(ref.text);
    expect(two.output.some((o) => o.type === 'function_call')).toBe(false);
  });

  it('item references to earlier output resolve to those items (what the AI SDK sends with store on)', async () => {
    const one = await client.responses.create({ model: 'mock', input: 'Remember the word lantern.' });
    const msg = one.output.find((o) => o.type === 'message');
    if (msg?.type !== 'message') throw new Error('expected a message');
    const body = {
      model: 'mock',
      input: [
        { role: 'user' as const, content: 'Remember the word lantern.' },
        { type: 'item_reference' as const, id: msg.id },
        { role: 'user' as const, content: 'Which word?' },
      ],
    };
    const ref = mockText(
      parseResponsesRequest(
        {
          model: 'mock',
          input: [
            { role: 'user', content: 'Remember the word lantern.' },
            { role: 'assistant', content: one.output_text },
            { role: 'user', content: 'Which word?' },
          ],
        },
        LIMITS,
      ),
    );
    const two = await client.responses.create(body);
    expect(two.output_text).toBe(ref.text);
    for (const id of [`${msg.id}9`, 'msg_aaaaaaaaaaaaaaaaaaaaaaaaaa_0', 'x']) {
      const err = await client.responses.create({ model: 'mock', input: [{ type: 'item_reference', id }] }).catch((e: unknown) => e);
      expect(err, id).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as InstanceType<typeof OpenAI.NotFoundError>).param).toBe('input[0].id');
    }
  });

  it('a store:false response is not retrievable; a failed one ends with response.failed', async () => {
    const unstored = await client.responses.create({ model: 'mock', input: 'Do not keep this', store: false });
    expect(unstored.store).toBe(false);
    await expect(client.responses.retrieve(unstored.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    const events = await collect(await client.responses.create({ model: 'mock', input: 'Fail soon [mock:fail=3]', stream: true }));
    expectCompliant(events);
    const last = events[events.length - 1];
    expect(last?.type).toBe('response.failed');
    if (last?.type !== 'response.failed') throw new Error('no failed event');
    expect(last.response.status).toBe('failed');
    expect(last.response.error?.code).toBeTruthy();
    expect(resourceErrors(last.response)).toEqual([]);
  });

  it('the same generation as Responses events on the generic route, resumed by Last-Event-ID', async () => {
    // Created through chat completions, watched as Responses events.
    const chat = await fetch(`${edge.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'Cross format [mock:len=30]' }] }),
    });
    const { id } = (await chat.json()) as { id: string };
    const read = async (headers: Record<string, string> = {}) => {
      const res = await fetch(`${edge.url}/v1/generations/${id}/events?format=responses`, { headers });
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const frames = (await res.text()).split('\n\n').filter((f) => f.startsWith('id: '));
      return frames.map((f) => JSON.parse(f.slice(f.indexOf('data: ') + 6)) as { type: string; sequence_number: number; delta?: string });
    };
    const all = await read();
    for (const ev of all) expect(eventErrors(ev), ev.type).toEqual([]);
    const text = all.map((e) => (e.type === 'response.output_text.delta' ? e.delta : '')).join('');
    expect(text).toBe(mockText(parseChatRequest({ model: 'mock', messages: [{ role: 'user', content: 'Cross format [mock:len=30]' }] }, LIMITS)).text);
    const mid = all[Math.floor(all.length / 2)]?.sequence_number as number;
    const rest = await read({ 'last-event-id': String(mid) });
    expect(rest).toEqual(all.filter((e) => e.sequence_number > mid));
  });
});
