import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { waitFor } from '../support/wait.js';
import { chatBody, meta, offsets, read, reference, submit, textOf } from './helpers.js';

/**
 * The official OpenAI SDK against a real edge (embedded: edge + producer in one process) on a
 * real redis-server: what it streams, what it gets without streaming, and what the mock's
 * reference says, must all be the same text.
 */
let redis: RedisServer;
let edge: Proc;
let client: OpenAI;

beforeAll(async () => {
  redis = await startRedisServer();
  edge = await startEmbedded({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'sdk', MOCK_TOKENS_PER_SECOND: '2000' });
  client = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
});

afterAll(async () => {
  await edge?.kill('SIGTERM');
  await redis?.stop();
});

describe('OpenAI SDK', () => {
  it('chat: streaming and non-streaming give the reference text', async () => {
    const body = chatBody('Tell me about resumable streams');
    const ref = reference(body);
    const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    let streamed = '';
    let role: string | undefined;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      const c = chunk.choices[0];
      if (c?.delta.role) role = c.delta.role;
      streamed += c?.delta.content ?? '';
      if (c?.finish_reason) finish = c.finish_reason;
      if (chunk.usage) usage = chunk.usage;
      expect(chunk.object).toBe('chat.completion.chunk');
      expect(chunk.id).toMatch(/^chatcmpl-gen_[a-z2-7]{26}$/);
    }
    expect(streamed).toBe(ref.text);
    expect(role).toBe('assistant');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(ref.tokens);
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + ref.tokens);
    expect(chunks).toBeGreaterThan(2);

    const whole = await client.chat.completions.create(body);
    expect(whole.object).toBe('chat.completion');
    expect(whole.choices[0]?.message).toMatchObject({ role: 'assistant', content: ref.text });
    expect(whole.choices[0]?.finish_reason).toBe('stop');
    expect(whole.usage?.completion_tokens).toBe(ref.tokens);
  });

  it('chat: max_tokens ends early with finish_reason length, the reference prefix', async () => {
    const body = chatBody('[mock:len=50] short please', { max_tokens: 12 });
    const ref = reference(body);
    expect(ref.finishReason).toBe('length');
    const whole = await client.chat.completions.create(body);
    expect(whole.choices[0]?.message.content).toBe(ref.text);
    expect(whole.choices[0]?.finish_reason).toBe('length');
    let streamed = '';
    let finish: string | null = null;
    for await (const chunk of await client.chat.completions.create({ ...body, stream: true })) {
      streamed += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(streamed).toBe(ref.text);
    expect(finish).toBe('length');
  });

  it('completions: streaming and non-streaming give the reference text', async () => {
    const body = { model: 'mock', prompt: 'Once upon a time [mock:len=80]' };
    const ref = reference(body);
    let streamed = '';
    for await (const chunk of await client.completions.create({ ...body, stream: true })) {
      expect(chunk.object).toBe('text_completion');
      streamed += chunk.choices[0]?.text ?? '';
    }
    expect(streamed).toBe(ref.text);
    const whole = await client.completions.create(body);
    expect(whole.choices[0]?.text).toBe(ref.text);
    expect(whole.choices[0]?.finish_reason).toBe('stop');
  });

  it('a failed generation surfaces as an API error in both modes', async () => {
    const body = chatBody('[mock:len=40][mock:fail=5]');
    const streamed = (async () => {
      for await (const _ of await client.chat.completions.create({ ...body, stream: true })) {
        // drain
      }
    })();
    await expect(streamed).rejects.toBeInstanceOf(OpenAI.APIError);
    await expect(client.chat.completions.create(body)).rejects.toMatchObject({ status: 502, code: 'upstream_error' });
  });

  it('errors are OpenAI errors the SDK understands', async () => {
    await expect(client.chat.completions.create(chatBody('x', { model: 'nope' }))).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    await expect(client.chat.completions.create({ model: 'mock', messages: [] })).rejects.toMatchObject({ status: 400, param: 'messages' });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('mock');
  });
});

describe('POST /v1/generations and its metadata', () => {
  it('202 with the id and events URL, then metadata and timings once it completed', async () => {
    const body = chatBody('[mock:len=30] timings');
    const res = await fetch(`${edge.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    const created = (await res.json()) as { id: string; status: string; events_url: string };
    expect(created.id).toMatch(/^gen_[a-z2-7]{26}$/);
    expect(created.status).toBe('queued');
    expect(created.events_url).toBe(`/v1/generations/${created.id}/events`);
    expect(res.headers.get('x-generation-id')).toBe(created.id);

    const watched = await read(`${edge.url}${created.events_url}`);
    expect(watched.done).toBe(true);
    expect(textOf(watched.events)).toBe(reference(body).text);
    const n = offsets(watched.events);

    const m = await waitFor(
      'completed status',
      async () => {
        const x = await meta(edge.url, created.id);
        return x.status === 'completed' ? x : null;
      },
      10_000,
    );
    expect(m).toMatchObject({
      id: created.id,
      object: 'generation',
      status: 'completed',
      kind: 'chat',
      model: 'mock',
      tokens: 30,
      finish_reason: 'stop',
      error: null,
      last_offset: n[n.length - 1],
    });
    expect(m.usage).toMatchObject({ completion_tokens: 30 });
    for (const k of ['created_at', 'started_at', 'first_token_at', 'completed_at'] as const) expect(typeof m[k]).toBe('number');
    expect(m.started_at as number).toBeGreaterThanOrEqual(m.created_at as number);
    expect(m.completed_at as number).toBeGreaterThanOrEqual(m.first_token_at as number);
    expect(typeof m.producer).toBe('string');
    const t = m.timings as Record<string, number | null>;
    expect(t.ttft_ms).toEqual(expect.any(Number));
    expect(t.ttft_ms as number).toBeGreaterThanOrEqual(0);
    expect(t.queue_ms).toEqual(expect.any(Number));
    expect(t.total_ms as number).toBeGreaterThanOrEqual(t.ttft_ms as number);
    expect(t.itl_mean_ms).toEqual(expect.any(Number));
    expect(t.itl_p95_ms).toEqual(expect.any(Number));
  });

  it('a completion body (prompt, no messages) makes a completion generation', async () => {
    const body = { model: 'mock', prompt: '[mock:len=10] kind' };
    const id = await submit(edge.url, body);
    const watched = await read(`${edge.url}/v1/generations/${id}/events`);
    expect(textOf(watched.events)).toBe(reference(body).text);
    expect(JSON.parse(watched.events[0]?.data as string).object).toBe('text_completion');
    expect((await meta(edge.url, id)).kind).toBe('completion');
  });

  it('404 for unknown ids', async () => {
    for (const path of ['/v1/generations/gen_aaaaaaaaaaaaaaaaaaaaaaaaaa', '/v1/generations/gen_aaaaaaaaaaaaaaaaaaaaaaaaaa/events', '/v1/generations/bogus']) {
      const res = await fetch(`${edge.url}${path}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'generation_not_found', type: 'not_found_error' } });
    }
  });
});
