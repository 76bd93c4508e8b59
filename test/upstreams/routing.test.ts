import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, fakeAnthropic, fakeOpenAI } from '../support/fake-upstreams.js';
import { type InProcess, startInProcess } from '../support/in-process.js';
import { readSse } from '../support/sse.js';

/**
 * Routing to upstreams through a MODELS_FILE: several upstreams per model, retry on the next one
 * before the first token, Anthropic and OpenAI-compatible upstreams, one generation watchable in
 * both wire formats.
 */
describe('upstream routing (MODELS_FILE)', () => {
  let broken: FakeUpstream;
  let healthy: FakeUpstream;
  let claude: FakeUpstream;
  let midFail: FakeUpstream;
  let app: InProcess;
  let url: string;
  const tokens = ['Hello', ' from', ' the', ' fake', ' upstream'];

  beforeAll(async () => {
    broken = await fakeOpenAI({ tokens, failStatus: 500 });
    healthy = await fakeOpenAI({ tokens, usage: { prompt_tokens: 11, completion_tokens: 5 } });
    claude = await fakeAnthropic({ tokens });
    midFail = await fakeOpenAI({ tokens: ['one', ' two'] });
    const dir = mkdtempSync(join(tmpdir(), 'tokencast-models-'));
    const file = join(dir, 'models.json');
    writeFileSync(
      file,
      JSON.stringify({
        models: {
          // The broken upstream has all the weight: it is tried first, and must be skipped.
          'pooled-llm': {
            upstreams: [
              { type: 'openai', url: `${broken.url}/v1`, weight: 1000 },
              { type: 'openai', url: `${healthy.url}/v1`, weight: 0.001, api_key_env: 'FAKE_KEY', model: 'real-name' },
            ],
          },
          claude: { upstreams: [{ type: 'anthropic', url: claude.url, api_key: 'sk-ant-test' }] },
          'all-broken': { upstreams: [{ type: 'openai', url: `${broken.url}/v1` }] },
        },
      }),
    );
    const env = { MODELS_FILE: file, FAKE_KEY: 'fake-secret', MOCK_TTFT_MS: '5', MOCK_TOKENS_PER_SECOND: '1000', LOG_LEVEL: 'silent' };
    app = await startInProcess(env);
    url = app.url;
  });

  afterAll(async () => {
    await app?.stop();
    for (const f of [broken, healthy, claude, midFail]) await f?.close();
  });

  const post = (path: string, body: Record<string, unknown>) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('skips an upstream that fails before the first token and streams from the next one', async () => {
    const before = broken.requests.length;
    const res = await post('/v1/chat/completions', { model: 'pooled-llm', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    expect(body.choices[0]?.message.content).toBe(tokens.join(''));
    // Usage is the upstream's own count.
    expect(body.usage.prompt_tokens).toBe(11);
    expect(broken.requests.length).toBe(before + 1);
    const sent = healthy.requests.at(-1);
    expect(sent?.body.model).toBe('real-name');
    expect(sent?.body.stream).toBe(true);
    expect(sent?.headers.authorization).toBe('Bearer fake-secret');
  });

  it('ends with a clear error when every upstream fails before the first token', async () => {
    const res = await post('/v1/chat/completions', { model: 'all-broken', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { code: string; message: string } };
    // A stable code and a generic message: the upstream's own text stays in the logs (#14 item 5).
    expect(body.error.code).toBe('upstream_error');
    expect(body.error.message).toBe('the upstream model answered with an error');
    expect(body.error.message).not.toContain('fake upstream refuses');
  });

  it('streams from an Anthropic upstream, watchable as OpenAI chunks and as Anthropic events', async () => {
    const sub = await post('/v1/generations', {
      model: 'claude',
      messages: [
        { role: 'system', content: 'be kind' },
        { role: 'user', content: 'hi' },
      ],
    });
    const { id } = (await sub.json()) as { id: string };
    const openai = await readSse(`${url}/v1/generations/${id}/events`);
    expect(openai.text).toBe(tokens.join(''));
    expect(openai.done).toBe(true);
    const sent = claude.requests.at(-1);
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.body.system).toBe('be kind');
    expect(sent?.headers['x-api-key']).toBe('sk-ant-test');
    expect(sent?.headers['anthropic-version']).toBeTruthy();

    const res = await fetch(`${url}/v1/generations/${id}/events?format=anthropic`);
    const text = await res.text();
    const deltas = [...text.matchAll(/"text_delta","text":"([^"]*)"/g)].map((m) => m[1]).join('');
    expect(deltas).toBe(tokens.join(''));
    expect(text.indexOf('event: message_start')).toBeLessThan(text.indexOf('event: content_block_delta'));
    expect(text).toContain('event: message_stop');
    // Usage from message_start (input) and message_delta (output).
    const meta = (await (await fetch(`${url}/v1/generations/${id}`)).json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    expect(meta.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 5 });
  });

  it('serves /v1/messages for any model, in Anthropic shape, errors included', async () => {
    const res = await post('/v1/messages', { model: 'pooled-llm', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    const body = (await res.json()) as { type: string; content: { text: string }[]; stop_reason: string };
    expect(body.type).toBe('message');
    expect(body.content[0]?.text).toBe(tokens.join(''));
    expect(body.stop_reason).toBe('end_turn');
    const bad = await post('/v1/messages', { model: 'pooled-llm', messages: [{ role: 'user', content: 'hi' }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });
});
