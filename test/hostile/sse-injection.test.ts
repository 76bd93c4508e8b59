import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBEDDED_MAIN, type Proc, startProcess } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/**
 * PITFALLS "Field injection": CR, LF and NUL in every caller- or upstream-controlled string that
 * can reach a stream (model names, tokens, upstream error messages, ids and offsets) must never
 * end an SSE field early or forge an event. A fake OpenAI upstream sends tokens and error
 * messages built to do exactly that; every stream is parsed raw, line by line, and must consist
 * only of the frames tokencast writes, with the hostile text intact inside the JSON.
 */
const FORGE = '\n\nid: 999\ndata: forged\n\n';
const TOKENS = [
  'Hello',
  FORGE,
  '\r',
  '\u0000',
  '\r\n\r\nevent: error\r\ndata: {"forged":true}\r\n\r\n',
  'data: [DONE]\n\n',
  ':comment\n',
  'retry: 1\n\n',
  '\rid: 998\r',
  '\u2028\u2029\u0085',
  'event: message_stop\n',
  'bye',
];
const ERROR_MESSAGE = `boom${FORGE}\r\nid: 997\r\n\u0000data: [DONE]\n\n`;

let redis: RedisServer;
let edge: Proc;
let upstream: Server;

beforeAll(async () => {
  redis = await startRedisServer();
  upstream = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => {
      raw += d.toString();
    });
    req.on('end', () => {
      const prompt = raw;
      const frame = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
      if (prompt.includes('[fail-status]')) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: ERROR_MESSAGE } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (prompt.includes('[fail-midstream]')) {
        res.write(frame({ choices: [{ index: 0, delta: { content: TOKENS[0] }, finish_reason: null }] }));
        res.end(frame({ error: { message: ERROR_MESSAGE } }));
        return;
      }
      for (const t of TOKENS) res.write(frame({ choices: [{ index: 0, delta: { content: t }, text: t, finish_reason: null }] }));
      res.write(frame({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
      res.end(`${frame({ choices: [], usage: { prompt_tokens: 3, completion_tokens: TOKENS.length, total_tokens: 3 + TOKENS.length } })}data: [DONE]\n\n`);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  edge = await startProcess(
    EMBEDDED_MAIN,
    // UPSTREAM_MODELS empty: every model name the mock does not serve goes to the upstream, as given.
    { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'inject', UPSTREAM_URL: `http://127.0.0.1:${port}/v1`, UPSTREAM_MODELS: '', LOG_LEVEL: 'warn' },
  );
});

afterAll(async () => {
  await edge?.kill();
  await new Promise<void>((resolve) => {
    upstream?.closeAllConnections();
    upstream?.close(() => resolve());
  });
  await redis?.stop();
});

interface Parsed {
  ids: number[];
  datas: string[];
  text: string;
  error: { code: string; message: string } | null;
  done: boolean;
}

/**
 * The raw body, judged line by line: only `id: <digits>`, `data: <one line of JSON or [DONE]>`,
 * `event: <name>`, `retry: <digits>` and `:` comments, separated by blank lines, with no CR and no
 * NUL anywhere. Returns what a conforming SSE parser reads from it, for the text checks.
 */
function strictParse(raw: string, anthropic = false): Parsed {
  expect(raw.includes('\r'), 'a CR on the wire').toBe(false);
  expect(raw.includes('\u0000'), 'a NUL on the wire').toBe(false);
  const lines = raw.split('\n');
  for (const line of lines) {
    if (line === '' || line.startsWith(':')) continue;
    // `s`: U+2028, U+2029 and NEL are ordinary characters to SSE (only CR and LF end a line).
    const m = /^(id|data|event|retry): (.*)$/s.exec(line);
    expect(m, `an unexpected line: ${JSON.stringify(line)}`).not.toBeNull();
    const [, field, value] = m as unknown as [string, string, string];
    if (field === 'id' || field === 'retry') expect(value).toMatch(/^\d+$/);
    if (field === 'event') expect(anthropic, `event: in an OpenAI stream: ${line}`).toBe(true);
    if (field === 'data' && value !== '[DONE]') expect(() => JSON.parse(value), `data that is not one line of JSON: ${line}`).not.toThrow();
  }
  // And what a real SSE parser makes of it.
  const out: Parsed = { ids: [], datas: [], text: '', error: null, done: false };
  const parser = createParser({
    onEvent(ev) {
      if (ev.id) out.ids.push(Number(ev.id));
      out.datas.push(ev.data);
      if (ev.data === '[DONE]') {
        out.done = true;
        return;
      }
      const j = JSON.parse(ev.data) as {
        error?: { code: string; message: string };
        choices?: { delta?: { content?: string }; text?: string }[];
        delta?: { text?: string; type?: string };
        type?: string;
      };
      if (j.error) out.error = j.error;
      out.text += j.choices?.[0]?.delta?.content ?? j.choices?.[0]?.text ?? (j.type === 'content_block_delta' ? (j.delta?.text ?? '') : '');
    },
  });
  parser.feed(raw);
  return out;
}

const dense = (ids: number[]) => ids.every((id, i) => id === i + 1);

async function create(path: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${edge.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('PITFALLS "Field injection": hostile text never ends an SSE field or forges an event', () => {
  it('tokens with CR, LF, NUL and whole fake frames: live, replayed, as completions and in Anthropic framing', async () => {
    const want = TOKENS.join('');
    // Live, on the response that created it.
    const live = await create('/v1/chat/completions', { model: 'evil-upstream', stream: true, messages: [{ role: 'user', content: `[tokens] ${FORGE}` }] });
    expect(live.status).toBe(200);
    const id = live.headers.get('x-generation-id') as string;
    const a = strictParse(await live.text());
    expect(a.text).toBe(want);
    expect(dense(a.ids)).toBe(true);
    expect(a.ids).not.toContain(999);
    expect(a.datas.filter((d) => d === '[DONE]')).toHaveLength(1);
    expect(a.datas.at(-1)).toBe('[DONE]');

    // Replayed from the store, from the start and from the middle, with usage.
    const replay = strictParse(await (await fetch(`${edge.url}/v1/generations/${id}/events?include_usage=true`)).text());
    expect(replay.text).toBe(want);
    expect(replay.ids).toEqual(a.ids);
    const half = Math.floor(a.ids.length / 2);
    const tail = strictParse(await (await fetch(`${edge.url}/v1/generations/${id}/events`, { headers: { 'last-event-id': String(half) } })).text());
    expect(tail.ids[0]).toBe(half + 1);
    expect(want.endsWith(tail.text)).toBe(true);

    // Anthropic framing (it has `event:` lines of its own).
    const anth = strictParse(await (await fetch(`${edge.url}/v1/generations/${id}/events?format=anthropic`)).text(), true);
    expect(anth.text).toBe(want);

    // A completion generation (choices[0].text).
    const comp = await create('/v1/completions', { model: 'evil-upstream', stream: true, prompt: `[tokens] ${FORGE}` });
    expect(comp.status).toBe(200);
    expect(strictParse(await comp.text()).text).toBe(want);
  });

  it('upstream error messages with CR, LF and NUL, before the first token and mid-stream', async () => {
    for (const marker of ['[fail-status]', '[fail-midstream]']) {
      const res = await create('/v1/chat/completions', { model: 'evil-upstream', stream: true, messages: [{ role: 'user', content: marker }] });
      expect(res.status, marker).toBe(200);
      const id = res.headers.get('x-generation-id') as string;
      const p = strictParse(await res.text());
      expect(p.error, marker).not.toBeNull();
      expect(p.ids).not.toContain(997);
      expect(p.ids).not.toContain(999);
      expect(dense(p.ids)).toBe(true);
      expect(p.datas.filter((d) => d === '[DONE]')).toHaveLength(1);
      // Whatever of the upstream's message is passed on stays inside the JSON string.
      const replay = strictParse(await (await fetch(`${edge.url}/v1/generations/${id}/events`)).text());
      expect(replay.error).toEqual(p.error);
      console.log(`${marker}: the stream ended with ${JSON.stringify(p.error)}`);
    }
  });

  it('model names: control characters are refused before anything is created; other odd names stay inside the JSON', async () => {
    for (const model of ['mock\n\nid: 999\ndata: forged', 'mock\r', 'mock\u0000', 'a\u0085b\r\nc']) {
      const res = await create('/v1/chat/completions', { model, stream: true, messages: [{ role: 'user', content: 'hi' }] });
      expect(res.status, JSON.stringify(model)).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe('model');
    }
    // Not control characters, but line separators elsewhere (U+2028, U+2029, NEL): accepted, and harmless on the wire.
    const odd = 'odd\u2028model\u2029\u0085name';
    const res = await create('/v1/chat/completions', { model: odd, stream: true, messages: [{ role: 'user', content: '[tokens]' }] });
    expect(res.status).toBe(200);
    const p = strictParse(await res.text());
    expect(p.text).toBe(TOKENS.join(''));
    for (const d of p.datas.filter((x) => x !== '[DONE]')) {
      const model = (JSON.parse(d) as { model?: string }).model;
      if (model !== undefined) expect(model).toBe(odd);
    }
  });

  it('ids and offsets with CR/LF (percent-encoded: raw ones never get past the HTTP parser) are refused, never echoed into a stream', async () => {
    const gen = await create('/v1/generations', { model: 'mock', messages: [{ role: 'user', content: '[mock:len=3] x' }] });
    const { id } = (await gen.json()) as { id: string };
    for (const from of ['1%0d%0aid:%20999', '1%0aid:%20999', '%00', '1%0d', '%0a1', '1%e2%80%a8', '%c2%a01']) {
      const res = await fetch(`${edge.url}/v1/generations/${id}/events?from=${from}`);
      expect(res.status, from).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_offset');
    }
    for (const bad of [`${id}%0d%0aid:%20999`, `${id}%0a`, `${id}%00`]) {
      const res = await fetch(`${edge.url}/v1/generations/${bad}/events`);
      expect(res.status, bad).toBe(404);
      expect(res.headers.get('x-generation-id') ?? '').not.toMatch(/[\r\n]/);
    }
  });
});
