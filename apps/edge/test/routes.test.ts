import { createMemoryEngine, type Engine } from '@tokencast/engine';
import { newGenerationId, parseChatRequest, parseCompletionRequest, parseMessagesRequest, parseResponsesRequest, queuedMeta, toErrorBody } from '@tokencast/protocol';
import { createLogger, routingConfig } from '@tokencast/runtime';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEdge, type Edge, edgeConfigFromEnv } from '../src/index.js';

/**
 * Every way a request can be wrong, through the real Fastify app (inject: no socket). No producer
 * runs here: generations stay queued unless a test writes their events itself.
 */
let engine: Engine;
let edge: Edge;

beforeAll(async () => {
  engine = createMemoryEngine();
  const env = { BODY_LIMIT_BYTES: '4096', MAX_TOKENS_CAP: '1000', EDGE_CHANNEL_LINGER_MS: '50' };
  edge = await buildEdge({ engine, routing: routingConfig(env), config: edgeConfigFromEnv(env), logger: createLogger('edge-test', 'silent') });
  await edge.app.ready();
});

afterAll(async () => {
  await edge.app.close();
  await engine.close();
});

const json = { 'content-type': 'application/json' };

function post(url: string, payload: string | Buffer, headers: Record<string, string> = json) {
  return edge.app.inject({ method: 'POST', url, payload, headers });
}

/** An OpenAI-style error with exactly the documented fields, and nothing that looks like a stack. */
function expectError(res: LightMyRequestResponse, status: number, code: string | null, param?: string | null) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.json() as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
  expect(typeof body.error.type).toBe('string');
  if (code !== null) expect(body.error.code).toBe(code);
  if (param !== undefined) expect(body.error.param).toBe(param);
  expectNoStack(res.body);
  return body.error;
}

function expectNoStack(text: string) {
  expect(text).not.toMatch(/\bat .+:\d+:\d+/);
  expect(text).not.toMatch(/node_modules|\/work\/|\.ts:\d|\.js:\d|"stack"/);
}

/** A generation with `n` token events and, when `ended`, an end event — written straight to the store. */
async function stored(n: number, ended: boolean): Promise<string> {
  const meta = queuedMeta(newGenerationId(), {
    kind: 'chat',
    model: 'mock',
    messages: [{ role: 'user', content: 'x' }],
    prompt: '',
    maxTokens: null,
    stream: true,
    includeUsage: false,
    params: {},
  });
  await engine.queue.enqueue(meta);
  const c = await engine.store.claim(meta.id, 'test');
  const events = Array.from({ length: n }, (_, i) => ({ kind: 'token' as const, text: `t${i + 1} `, tokens: 1, ms: [i] }));
  await engine.store.append(meta.id, c?.fence as number, 0, [
    ...events,
    ...(ended
      ? [
          {
            kind: 'end' as const,
            status: 'completed' as const,
            finishReason: 'stop' as const,
            usage: { prompt_tokens: 1, completion_tokens: n, total_tokens: n + 1 },
            error: null,
            ms: n,
          },
        ]
      : []),
  ]);
  return meta.id;
}

describe('request bodies', () => {
  const routes = ['/v1/chat/completions', '/v1/completions', '/v1/generations'];

  it.each(routes)('%s: malformed JSON is a 400 invalid_json', async (url) => {
    for (const payload of ['{"model":', '{model: "mock"}', "{'a':1}", '{"a":1}}', '\u0000']) {
      expectError(await post(url, payload), 400, 'invalid_json');
    }
  });

  it.each(routes)('%s: an empty JSON body is a 400', async (url) => {
    expectError(await post(url, ''), 400, 'invalid_json');
  });

  it.each(routes)('%s: a body that is not an object is a 400', async (url) => {
    for (const payload of ['[]', '[{"model":"mock"}]', '"text"', '42', 'null', 'true']) {
      expectError(await post(url, payload), 400, 'invalid_json');
    }
  });

  it('missing messages or prompt is a 400 naming the parameter', async () => {
    expectError(await post('/v1/chat/completions', '{"model":"mock"}'), 400, 'missing_required_parameter', 'messages');
    expectError(await post('/v1/chat/completions', '{"model":"mock","prompt":"hi"}'), 400, 'missing_required_parameter', 'messages');
    expectError(await post('/v1/completions', '{"model":"mock"}'), 400, 'missing_required_parameter', 'prompt');
    expectError(await post('/v1/completions', '{"model":"mock","messages":[{"role":"user","content":"x"}]}'), 400, 'missing_required_parameter', 'prompt');
    expectError(await post('/v1/generations', '{"model":"mock"}'), 400, 'missing_required_parameter', 'messages');
    expectError(await post('/v1/chat/completions', '{"messages":[{"role":"user","content":"x"}]}'), 400, 'missing_required_parameter', 'model');
  });

  it('a tool schema or tool input nested 600 deep (past the 64-level cap) is a 400 naming it', async () => {
    const deep = `${'{"a":'.repeat(600)}1${'}'.repeat(600)}`;
    const chat = `{"model":"mock","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":${deep}}}]}`;
    expectError(await post('/v1/chat/completions', chat), 400, 'invalid_value', 'tools[0].function.parameters');
    const messages = `{"model":"mock","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":${deep}}]}]}`;
    const res = await post('/v1/messages', messages);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('nested too deeply') } });
  });

  it('invalid fields are a 400 with their parameter', async () => {
    const chat = (extra: Record<string, unknown>) => JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'x' }], ...extra });
    expectError(await post('/v1/chat/completions', chat({ messages: [] })), 400, 'invalid_value', 'messages');
    expectError(await post('/v1/chat/completions', chat({ messages: [{ role: 'wizard', content: 'x' }] })), 400, 'invalid_value', 'messages[0].role');
    expectError(await post('/v1/chat/completions', chat({ max_tokens: 1001 })), 400, 'max_tokens_exceeded', 'max_tokens');
    expectError(await post('/v1/chat/completions', chat({ stream: 'yes' })), 400, 'invalid_value', 'stream');
    expectError(await post('/v1/chat/completions', chat({ n: 2 })), 400, 'unsupported_value', 'n');
  });

  it.each(routes)('%s: an unknown model is a 404 model_not_found', async (url) => {
    const body = url === '/v1/completions' ? { model: 'gpt-nope', prompt: 'x' } : { model: 'gpt-nope', messages: [{ role: 'user', content: 'x' }] };
    const err = expectError(await post(url, JSON.stringify(body)), 404, 'model_not_found', 'model');
    expect(err.message).toContain('gpt-nope');
  });

  it.each(routes)('%s: a body over the limit is a 413', async (url) => {
    const big = JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'x'.repeat(5_000) }] });
    expectError(await post(url, big), 413, 'payload_too_large');
  });

  it("the Anthropic route's errors carry Anthropic's type names", async () => {
    const typeOf = (res: LightMyRequestResponse) => (res.json() as { type: string; error: { type: string } }).error.type;
    const big = await post('/v1/messages', JSON.stringify({ model: 'mock', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(5_000) }] }));
    expect([big.statusCode, typeOf(big)]).toEqual([413, 'request_too_large']);
    const unknown = await post('/v1/messages', JSON.stringify({ model: 'gpt-nope', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }));
    expect([unknown.statusCode, typeOf(unknown)]).toEqual([404, 'not_found_error']);
    const bad = await post('/v1/messages', '{"model":"mock"}');
    expect([bad.statusCode, typeOf(bad)]).toEqual([400, 'invalid_request_error']);
  });

  it.each(routes)('%s: a body that is not JSON by its content type is a 415', async (url) => {
    const body = JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'x' }] });
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      expectError(await post(url, body, { 'content-type': type }), 415, 'unsupported_media_type');
    }
  });

  it('a valid request is accepted, and the JSON content type may carry a charset', async () => {
    const res = await post('/v1/generations', JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'x' }] }), { 'content-type': 'application/json; charset=utf-8' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ object: 'generation', status: 'queued', model: 'mock' });
    expect(res.headers['x-generation-id']).toBe(res.json().id);
  });
});

describe('generation ids', () => {
  const unknown = newGenerationId();
  const malformed = ['nope', 'gen_short', `${unknown}x`, unknown.toUpperCase(), 'gen_%7Babcdefghijklmnopqrstuvwxy%7D', `${unknown.slice(0, -1)}1`, '..%2F..%2Fetc'];

  it('unknown and malformed ids get the very same 404 on every route', async () => {
    const requests = (id: string) => [
      edge.app.inject({ method: 'GET', url: `/v1/generations/${id}` }),
      edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events` }),
      edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events?from=0` }),
      edge.app.inject({ method: 'DELETE', url: `/v1/generations/${id}` }),
      edge.app.inject({ method: 'POST', url: `/v1/generations/${id}/cancel` }),
    ];
    const reference = await requests(unknown)[0];
    if (!reference) throw new Error('no response');
    expectError(reference, 404, 'generation_not_found', 'id');
    for (const id of [unknown, ...malformed]) {
      for (const res of await Promise.all(requests(id))) {
        expectError(res, 404, 'generation_not_found');
        expect(res.body, id).toBe(reference.body);
      }
    }
  });
});

describe('resume offsets', () => {
  it('bad Last-Event-ID and ?from values are a 400, never a replay from zero', async () => {
    const id = await stored(3, false);
    const bad = ['abc', '-1', '1.5', '1e2', '0x1', '99999999999999999999', '9007199254740992', ''];
    for (const v of bad) {
      const viaHeader = await edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events`, headers: { 'last-event-id': v } });
      expectError(viaHeader, 400, 'invalid_offset', 'Last-Event-ID');
      const viaQuery = await edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events?from=${encodeURIComponent(v)}` });
      expectError(viaQuery, 400, 'invalid_offset', 'from');
    }
    expectError(await edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events?from=1&from=2` }), 400, 'invalid_offset', 'from');
  });

  it('an offset beyond the newest event is a 400 offset_out_of_range', async () => {
    const running = await stored(3, false);
    const done = await stored(3, true);
    for (const [id, beyond] of [
      [running, 4],
      [running, 1_000],
      [done, 5],
    ] as const) {
      expectError(await edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events`, headers: { 'last-event-id': String(beyond) } }), 400, 'offset_out_of_range');
      expectError(await edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events?from=${beyond}` }), 400, 'offset_out_of_range');
    }
    // A queued generation has no events yet: only 0 is in range.
    const queued = await post('/v1/generations', JSON.stringify({ model: 'mock', prompt: 'x' }));
    expectError(await edge.app.inject({ method: 'GET', url: `/v1/generations/${queued.json().id}/events?from=1` }), 400, 'offset_out_of_range');
  });

  it('valid offsets replay exactly the events after them; the header wins over ?from', async () => {
    const id = await stored(3, true);
    const ids = (body: string) => [...body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    const all = await edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events` });
    expect(all.statusCode).toBe(200);
    expect(all.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(all.headers['x-generation-id']).toBe(id);
    expect(ids(all.body)).toEqual([1, 2, 3, 4]);
    expect(all.body.endsWith('data: [DONE]\n\n')).toBe(true);
    const after2 = await edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events?from=0`, headers: { 'last-event-id': '2' } });
    expect(ids(after2.body)).toEqual([3, 4]);
    const fromQuery = await edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events?from=3` });
    expect(ids(fromQuery.body)).toEqual([4]);
    // Resuming at the end event's offset: just [DONE].
    const atEnd = await edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events`, headers: { 'last-event-id': '4' } });
    expect(atEnd.statusCode).toBe(200);
    expect(atEnd.body).toBe('data: [DONE]\n\n');
  });
});

describe('route schemas', () => {
  it("a body that is not a JSON object is refused before any parsing, in the words of the parsers and in each API's shape", async () => {
    const limits = { maxTokensCap: 1000, maxPromptChars: 1000, maxMediaBytes: 1000 };
    const refusal = (parse: () => unknown) => {
      try {
        parse();
      } catch (err) {
        return toErrorBody(err).body.error;
      }
      throw new Error('the parser accepted a non-object body');
    };
    for (const [url, parse] of [
      ['/v1/chat/completions', () => parseChatRequest([], limits)],
      ['/v1/completions', () => parseCompletionRequest([], limits)],
      ['/v1/generations', () => parseChatRequest([], limits)],
      ['/v1/responses', () => parseResponsesRequest([], limits)],
    ] as const) {
      const err = expectError(await post(url, '[]'), 400, 'invalid_json', null);
      expect(err).toEqual(refusal(parse));
    }
    const anthropic = await post('/v1/messages', 'null');
    expect(anthropic.statusCode).toBe(400);
    expect(anthropic.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: refusal(() => parseMessagesRequest(null, limits)).message } });
  });

  it("a query value outside its schema gets the hand-written checks' answer; a parameter given twice is a 400 naming it", async () => {
    const id = await stored(3, true);
    const events = (q: string) => edge.app.inject({ method: 'GET', url: `/v1/generations/${id}/events?${q}` });
    expect(expectError(await events('format=xml'), 400, 'invalid_value', 'format').message).toBe('format must be "openai", "anthropic" or "responses"');
    expect(expectError(await events('include_usage=1&include_usage=0'), 400, 'invalid_value', 'include_usage').message).toBe('give the include_usage parameter once');
    expectError(await events('starting_after=1&starting_after=2'), 400, 'invalid_offset', 'starting_after');
    // Lenient values stay lenient: an unknown include_usage is ignored, as before.
    expect((await events('include_usage=maybe')).statusCode).toBe(200);
    const retrieve = (q: string) => edge.app.inject({ method: 'GET', url: `/v1/responses/${id}?${q}` });
    expect(expectError(await retrieve('stream=yes'), 400, 'invalid_value', 'stream').message).toBe('stream must be true or false');
    expectError(await retrieve('include_obfuscation=1'), 400, 'invalid_value', 'include_obfuscation');
    expect((await retrieve('stream=false&include_obfuscation=true')).statusCode).toBe(200);
    // The Durable Streams endpoint answers in its own shape (its protocol headers on every answer).
    const durable = await edge.app.inject({ method: 'GET', url: '/v1/stream/some-stream?offset=-1&offset=now' });
    expect(expectError(durable, 400, 'invalid_offset', 'offset').message).toBe('give the offset parameter once');
    expect(durable.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('other routes', () => {
  it('an unknown route is an OpenAI-style 404', async () => {
    for (const [method, url] of [
      ['GET', '/nope'],
      ['POST', '/v1/chat/completion'],
      ['GET', '/v1/chat/completions'],
      ['PUT', '/v1/generations'],
      ['GET', '/v1/generations/x/y/z'],
    ] as const) {
      const err = expectError(await edge.app.inject({ method, url }), 404, 'unknown_route');
      expect(err.type).toBe('invalid_request_error');
    }
  });

  it('health, readiness and models answer', async () => {
    expect((await edge.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await edge.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', engine: 'memory' });
    const models = await edge.app.inject({ method: 'GET', url: '/v1/models' });
    expect(models.json()).toMatchObject({
      object: 'list',
      data: [
        { id: 'mock', object: 'model' },
        { id: 'mock-reasoning', object: 'model' },
      ],
    });
  });

  it('failed requests leave no channel behind', async () => {
    await new Promise((r) => setTimeout(r, 200));
    expect(edge.hub.sinkCount).toBe(0);
    expect(edge.hub.channelCount).toBe(0);
    expect(edge.hub.followed).toBe(0);
  });
});
