import { mkdtempSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenAICompatibleProvider, UpstreamError } from '@tokencast/producer';
import type { GenerationRequest } from '@tokencast/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, recordingUpstream } from '../support/fake-upstreams.js';
import { type InProcess, startInProcess } from '../support/in-process.js';
import { readSse } from '../support/sse.js';

/**
 * How upstream failures reach clients: a stable code and a generic message, never the upstream's
 * own words or addresses (issue #14, item 5); sizes and counts from an upstream are bounded and
 * checked before they reach anyone (issue #14, item 9). A real HTTP upstream that misbehaves on
 * cue (a directive in the prompt), an in-process edge and producer.
 */
const SECRET = 'db at 10.9.8.7:7999 exploded';
const frame = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const chunk = (content: string) => frame({ choices: [{ index: 0, delta: { content }, finish_reason: null }] });

function script(prompt: string, res: ServerResponse): void {
  if (prompt.includes('[status]')) {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: SECRET } }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  if (prompt.includes('[stall]')) return; // headers, then silence
  res.write(chunk('one'));
  if (prompt.includes('[midstream]')) return void res.end(frame({ error: { message: SECRET } }));
  if (prompt.includes('[cut]')) return void res.end(chunk(' two'));
  if (prompt.includes('[huge-ascii]')) return void res.end(chunk('x'.repeat(20 * 1024 * 1024)));
  // 400 000 characters, 1.2 MB: under the cap in characters, over it in bytes.
  if (prompt.includes('[huge-multibyte]')) return void res.end(chunk('€'.repeat(400_000)));
  if (prompt.includes('[big-ok]')) res.write(chunk('y'.repeat(500_000)));
  res.write(frame({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
  const usage = prompt.includes('[bad-usage]') ? { prompt_tokens: -5, completion_tokens: 2.5, total_tokens: null } : { prompt_tokens: 4, completion_tokens: 2 };
  res.end(`${frame({ choices: [], usage })}data: [DONE]\n\n`);
}

const options = (baseUrl: string) => ({ baseUrl, apiKey: '', connectTimeoutMs: 1000, firstTokenTimeoutMs: 5000, idleTimeoutMs: 5000, maxEventBytes: 1 << 20 });
const request = (prompt: string): GenerationRequest => ({
  kind: 'chat',
  model: 'm',
  messages: [{ role: 'user', content: prompt }],
  prompt: '',
  maxTokens: null,
  stream: true,
  includeUsage: false,
  params: {},
});

/** What a provider's generation threw (it must throw). */
async function failure(events: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const _ of events) {
    }
  } catch (err) {
    return err;
  }
  throw new Error('the generation did not fail');
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('upstream failures as clients see them', () => {
  let upstream: FakeUpstream;
  let app: InProcess;
  let deadPort: number;

  beforeAll(async () => {
    upstream = await recordingUpstream((_req, res, body) => script(JSON.stringify(body.messages), res));
    deadPort = await closedPort();
    const dir = mkdtempSync(join(tmpdir(), 'tokencast-failures-'));
    const file = join(dir, 'models.json');
    writeFileSync(
      file,
      JSON.stringify({
        models: {
          scripted: { upstreams: [{ type: 'openai', url: `${upstream.url}/v1` }] },
          unreachable: { upstreams: [{ type: 'openai', url: `http://127.0.0.1:${deadPort}/v1` }] },
        },
      }),
    );
    app = await startInProcess({ MODELS_FILE: file, LOG_LEVEL: 'silent' });
  });

  afterAll(async () => {
    await app?.stop();
    await upstream?.close();
  });

  const chat = (model: string, prompt: string, extra: Record<string, unknown> = {}) =>
    fetch(`${app.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: prompt }], ...extra }),
    });
  const streamed = (model: string, prompt: string) =>
    readSse(`${app.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: prompt }] }),
    });
  const errorOf = (events: { data: string }[]) => {
    const e = events.find((x) => x.data.startsWith('{"error"'));
    return e ? (JSON.parse(e.data) as { error: { code: string; message: string } }).error : null;
  };

  it('#14 item 5: an upstream error body never reaches the client; a stable code and a generic message do', async () => {
    const res = await chat('scripted', '[status]');
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(text).not.toContain('10.9.8.7');
    expect(text).not.toContain('exploded');
    const { error } = JSON.parse(text) as { error: { code: string; message: string } };
    expect(error.code).toBe('upstream_error');
    expect(error.message).toBe('the upstream model answered with an error');
  });

  it('#14 item 5: an error event mid-stream ends the stream with upstream_error, not the upstream text', async () => {
    const read = await streamed('scripted', '[midstream]');
    expect(read.text).toBe('one');
    expect(errorOf(read.events)?.code).toBe('upstream_error');
    expect(JSON.stringify(read.events)).not.toContain('10.9.8.7');
  });

  it('#14 item 5: an unreachable upstream answers upstream_unavailable without the address or the socket error', async () => {
    const res = await chat('unreachable', 'hi');
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(text).not.toContain(String(deadPort));
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain('ECONNREFUSED');
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('upstream_unavailable');
  });

  it('#14 item 5: the details are kept for the logs (UpstreamError.detail), not in the message', async () => {
    const provider = new OpenAICompatibleProvider(options(`http://127.0.0.1:${deadPort}/v1`));
    const caught = await failure(provider.generate(request('hi'), { signal: new AbortController().signal, resumeTokens: 0, resumeText: '' }));
    await provider.close();
    expect(caught).toBeInstanceOf(UpstreamError);
    const e = caught as UpstreamError;
    expect(e.code).toBe('upstream_unavailable');
    expect(e.detail).toContain('ECONNREFUSED');
    expect(e.message).not.toContain('ECONNREFUSED');
  });

  it('an upstream that sends headers and then nothing fails with upstream_timeout after the first-token timeout', async () => {
    const provider = new OpenAICompatibleProvider({ ...options(`${upstream.url}/v1`), firstTokenTimeoutMs: 300 });
    const started = Date.now();
    const caught = await failure(provider.generate(request('[stall]'), { signal: new AbortController().signal, resumeTokens: 0, resumeText: '' }));
    await provider.close();
    expect((caught as UpstreamError).code).toBe('upstream_timeout');
    expect((caught as UpstreamError).kind).toBe('first_token_timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('a stream closed before [DONE] or a finish reason is a failure, not a completion', async () => {
    const read = await streamed('scripted', '[cut]');
    expect(read.text).toBe('one two');
    expect(errorOf(read.events)?.code).toBe('upstream_error');
  });

  it('#14 item 9: a 20 MB upstream token fails the generation with upstream_event_too_large, and none of it is stored', async () => {
    const read = await streamed('scripted', '[huge-ascii]');
    expect(errorOf(read.events)?.code).toBe('upstream_event_too_large');
    expect(read.text).toBe('one');
    const id = read.headers.get('x-generation-id') as string;
    const replay = await readSse(`${app.url}/v1/generations/${id}/events`);
    expect(replay.text).toBe('one');
    expect(JSON.stringify(replay.events).length).toBeLessThan(10_000);
  });

  it('#14 item 9: the cap counts bytes: 400 000 three-byte characters (1.2 MB) are refused', async () => {
    const read = await streamed('scripted', '[huge-multibyte]');
    expect(errorOf(read.events)?.code).toBe('upstream_event_too_large');
    expect(read.text).toBe('one');
  });

  it('an event under the cap (500 kB) passes whole', async () => {
    const read = await streamed('scripted', '[big-ok]');
    expect(errorOf(read.events)).toBeNull();
    expect(read.text).toBe(`one${'y'.repeat(500_000)}`);
  });

  it('#14 item 9: negative, null and fractional upstream usage counts never reach clients; the producer counts instead', async () => {
    const res = await chat('scripted', '[bad-usage] two words');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
    for (const n of Object.values(body.usage)) expect(Number.isSafeInteger(n) && n >= 0, JSON.stringify(body.usage)).toBe(true);
    // The producer's own counts: one piece of text streamed; the prompt's words.
    expect(body.usage.completion_tokens).toBe(1);
    expect(body.usage.prompt_tokens).toBe(3);
    expect(body.usage.total_tokens).toBe(4);
    // Valid counts are taken as the upstream gives them.
    const ok = (await (await chat('scripted', 'fine')).json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    expect(ok.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 2 });
  });
});
