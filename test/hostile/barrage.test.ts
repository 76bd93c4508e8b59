import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type FakeUpstream, isOpenAiError, startFakeUpstream, unknownId } from '../gateway/support.js';
import { EMBEDDED_MAIN, type Proc, ROOT, startProcess } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { readSse } from '../support/sse.js';

/**
 * A property-based barrage (fast-check) at one edge process on Redis: HTTP requests with random
 * bodies, headers (Last-Event-ID, Accept, Authorization, Content-Type), path ids and query
 * strings, each checked against what the answer must be (a resume from offset k replays exactly
 * k+1…; anything that is not an offset is a 400, never a replay from zero; an unknown or
 * malformed id is the one 404), and WebSocket sessions of random frames, JSON and not. Never a
 * 5xx, never a hang, never an internal error, the process stays up and its heap flat.
 * test/gateway/fuzz.test.ts sends raw-socket garbage; this one checks meaning.
 */
const SEED = Number(process.env.HOSTILE_SEED ?? 20_251_126);
const HTTP_CASES = Number(process.env.HOSTILE_HTTP_CASES ?? 6_500);
const WS_FRAMES = Number(process.env.HOSTILE_WS_FRAMES ?? 3_600);
const WS_MAX_PAYLOAD = 4_096;
const WS_MAX_PER_SECOND = 50;
const ALLOWED_ORIGIN = 'https://allowed.example';

let redis: RedisServer;
let upstream: FakeUpstream;
let edge: Proc;
/** A completed generation and its event count; a live one (slow upstream); the unknown-id 404 body. */
const fx = { done: '', doneLast: 0, doneText: '', live: '', notFound: '' };

interface Stats {
  sinks: number;
  channels: number;
  followed: number;
  connections: number;
  heapUsed: number;
  gc: boolean;
}
const stats = async (gc = false): Promise<Stats> => (await (await fetch(`${edge.url}/debug/stats${gc ? '?gc=1' : ''}`)).json()) as Stats;

beforeAll(async () => {
  redis = await startRedisServer();
  // The live generation comes from a slow fake upstream (one token per 100 ms); the mock is fast.
  upstream = await startFakeUpstream({ intervalMs: 100, maxMs: 120_000 });
  edge = await startProcess(
    EMBEDDED_MAIN,
    {
      REDIS_URL: redis.url,
      TOKENCAST_KEY_PREFIX: 'hostile',
      EDGE_DEBUG_STATS: '1',
      EDGE_CHANNEL_LINGER_MS: '100',
      LOG_LEVEL: 'warn',
      MOCK_TTFT_MS: '1',
      MOCK_TOKENS_PER_SECOND: '20000',
      UPSTREAM_URL: upstream.url,
      UPSTREAM_MODELS: 'slow',
      BODY_LIMIT_BYTES: '65536',
      WS_MAX_PAYLOAD_BYTES: String(WS_MAX_PAYLOAD),
      WS_MAX_MESSAGES_PER_SECOND: String(WS_MAX_PER_SECOND),
      WS_ALLOWED_ORIGINS: ALLOWED_ORIGIN,
    },
    [],
    { nodeArgs: ['--expose-gc'] },
  );
  const create = async (body: Record<string, unknown>) => {
    const res = await fetch(`${edge.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  // One event per token (the fast mock would coalesce them): 25 offsets to resume from.
  fx.done = await create({ model: 'slow', messages: [{ role: 'user', content: 'the fixture [n=25]' }] });
  const r = await readSse(`${edge.url}/v1/generations/${fx.done}/events`);
  fx.doneLast = r.ids.at(-1) as number;
  fx.doneText = r.text;
  fx.live = await create({ model: 'slow', messages: [{ role: 'user', content: 'stays live' }] });
  await readSse(`${edge.url}/v1/generations/${fx.live}/events`, { stopAfter: 2 });
  fx.notFound = await (await fetch(`${edge.url}/v1/generations/${unknownId()}`)).text();
}, 60_000);

afterAll(async () => {
  await edge?.kill();
  await upstream?.close();
  await redis?.stop();
});

// ---- generators ----------------------------------------------------------------------------

const printable = (maxLength = 60) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });
const anyText = (maxLength = 40) => fc.oneof(fc.string({ maxLength }), fc.string({ unit: 'binary', maxLength }), printable(maxLength));
const enc = encodeURIComponent;

type IdKind = 'done' | 'live' | 'unknown' | 'malformed';
const idArb: fc.Arbitrary<{ kind: IdKind; value: string }> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null).map(() => ({ kind: 'done' as const, value: fx.done })) },
  { weight: 2, arbitrary: fc.constant(null).map(() => ({ kind: 'live' as const, value: fx.live })) },
  { weight: 2, arbitrary: fc.constant(null).map(() => ({ kind: 'unknown' as const, value: unknownId() })) },
  {
    weight: 3,
    arbitrary: fc
      .oneof(
        fc.constant(null).map(() => fx.done.toUpperCase()),
        fc.constant(null).map(() => `${fx.done}x`),
        fc.constant(null).map(() => fx.done.slice(0, -1)),
        fc.constant(null).map(() => fx.done.replace(/.$/, '1')), // 1 is not in the alphabet
        fc.constantFrom('gen_', '..', '%2e%2e', '%2e%2e%2fmeta', `gen_${'a'.repeat(26)}%0d%0aid:%20999`, 'x'.repeat(300), '%00', '%E2%80%A8'),
        anyText().map(enc),
      )
      .map((value) => ({ kind: 'malformed' as const, value })),
  },
);

const offsetArb = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 28 }).map(String) },
    {
      weight: 2,
      arbitrary: fc.constantFrom('', ' ', '01', '007', '+1', '-1', '-0', '1.0', '1e1', '0x1', '1_0', '١', 'NaN', 'Infinity', '99999999999999999999', '9007199254740993'),
    },
    { weight: 2, arbitrary: printable(20) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String) },
  );

interface HttpCase {
  method: string;
  path: string;
  kind: 'create' | 'meta' | 'events' | 'cancel' | 'other';
  id: { kind: IdKind; value: string } | null;
  lastEventId: string | null;
  from: string | null;
  headers: Record<string, string>;
  body: string | null;
}

const bodyArb = (): fc.Arbitrary<string> => {
  const field = <T>(valid: T) =>
    fc.oneof({ weight: 8, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: fc.constant(undefined) });
  const message = fc.record({ role: field('user'), content: fc.oneof(field('barrage [mock:len=3]'), anyText(80)) });
  const structured = fc
    .record({
      model: fc.oneof({ weight: 8, arbitrary: fc.constant('mock') }, { weight: 1, arbitrary: anyText(30) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
      messages: fc.oneof({ weight: 6, arbitrary: fc.array(message, { minLength: 1, maxLength: 3 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }),
      prompt: fc.option(fc.oneof(anyText(40), fc.jsonValue({ maxDepth: 1 })), { nil: undefined, freq: 6 }),
      stream: field(false),
      max_tokens: field(3),
      stream_options: fc.option(fc.oneof(fc.constant({ include_usage: true }), fc.jsonValue({ maxDepth: 1 })), { nil: undefined, freq: 4 }),
      temperature: fc.option(fc.oneof(fc.double(), fc.jsonValue({ maxDepth: 1 })), { nil: undefined, freq: 4 }),
      stop: fc.option(fc.oneof(anyText(10), fc.array(anyText(5), { maxLength: 6 })), { nil: undefined, freq: 4 }),
      on_disconnect: fc.option(fc.oneof(fc.constantFrom('continue', 'cancel'), anyText(10)), { nil: undefined, freq: 6 }),
    })
    .map((b) => JSON.stringify(b));
  return fc.oneof(
    { weight: 8, arbitrary: structured },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 1, arbitrary: anyText(200) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('', '{', 'null', '[]', '{"__proto__":{"model":"mock"}}', `{"model":"mock","messages":[{"role":"user","content":"${'a'.repeat(70_000)}"}]}`),
    },
  );
};

const httpCaseArb = (): fc.Arbitrary<HttpCase> =>
  fc
    .record({
      target: fc.oneof(
        {
          weight: 4,
          arbitrary: fc
            .constantFrom('/v1/chat/completions', '/v1/completions', '/v1/generations', '/v1/messages')
            .map((p) => ({ method: 'POST', path: p, kind: 'create' as const })),
        },
        { weight: 6, arbitrary: fc.constant({ method: 'GET', path: '/events', kind: 'events' as const }) },
        { weight: 2, arbitrary: fc.constant({ method: 'GET', path: '', kind: 'meta' as const }) },
        { weight: 1, arbitrary: fc.constantFrom('DELETE', 'POST').map((method) => ({ method, path: method === 'POST' ? '/cancel' : '', kind: 'cancel' as const })) },
        {
          weight: 1,
          arbitrary: fc
            .tuple(
              fc.constantFrom('GET', 'PUT', 'PATCH', 'OPTIONS', 'HEAD', 'POST'),
              fc.oneof(
                fc.constantFrom('/', '/v1', '/v1/', '/v1/ws', '/v1/models', '/readyz'),
                anyText(20).map((s) => `/${enc(s)}`),
              ),
            )
            .map(([method, path]) => ({ method, path, kind: 'other' as const })),
        },
      ),
      id: idArb,
      lastEventId: fc.option(offsetArb(), { nil: null, freq: 2 }),
      from: fc.option(offsetArb(), { nil: null, freq: 2 }),
      extraQuery: fc.array(
        fc.oneof(
          fc.constantFrom(
            'include_usage=true',
            'include_usage=1',
            'include_usage=maybe',
            'format=openai',
            'format=anthropic',
            'format=xml',
            'token=rt1.x',
            '%zz',
            'a[b]=c',
            '__proto__=1',
          ),
          fc.tuple(printable(10), anyText(20)).map(([k, v]) => `${enc(k)}=${enc(v)}`),
        ),
        { maxLength: 3 },
      ),
      accept: fc.option(fc.oneof(fc.constantFrom('text/event-stream', 'application/json', '*/*', 'text/html', 'application/json, text/event-stream'), printable(40)), {
        nil: null,
      }),
      authorization: fc.option(
        fc.oneof(
          fc.constantFrom('Bearer', 'Bearer ', 'Basic abc', `Bearer ${'k'.repeat(500)}`),
          printable(80).map((s) => `Bearer ${s}`),
          printable(80),
        ),
        {
          nil: null,
          freq: 3,
        },
      ),
      contentType: fc.option(
        fc.oneof(
          { weight: 8, arbitrary: fc.constant('application/json') },
          fc.constantFrom('application/json; charset=utf-8', 'text/plain', 'APPLICATION/JSON', 'application/x-www-form-urlencoded', 'multipart/form-data'),
          printable(40),
        ),
        { nil: null, freq: 10 },
      ),
      body: bodyArb(),
    })
    .map(({ target, id, lastEventId, from, extraQuery, accept, authorization, contentType, body }) => {
      const withId = target.kind === 'events' || target.kind === 'meta' || target.kind === 'cancel';
      // Never cancel the fixtures: the barrage would end them for everyone else.
      const safeId = target.kind === 'cancel' && (id.kind === 'done' || id.kind === 'live') ? { kind: 'unknown' as const, value: unknownId() } : id;
      const query = [...(from === null ? [] : [`from=${enc(from)}`]), ...extraQuery];
      const path = (withId ? `/v1/generations/${safeId.value}${target.path}` : target.path) + (query.length ? `?${query.join('&')}` : '');
      const headers: Record<string, string> = {};
      // Header values go out as bytes: text beyond Latin-1 as its UTF-8 bytes, as a raw client sends it.
      if (lastEventId !== null) headers['last-event-id'] = Buffer.from(lastEventId, 'utf8').toString('latin1');
      if (accept !== null) headers.accept = accept;
      if (authorization !== null) headers.authorization = authorization;
      const sendsBody = target.method === 'POST' && target.kind !== 'cancel';
      if (sendsBody && contentType !== null) headers['content-type'] = contentType;
      return { method: target.method, path, kind: target.kind, id: withId ? safeId : null, lastEventId, from, headers, body: sendsBody ? body : null };
    });

// ---- the HTTP oracle -----------------------------------------------------------------------

/** The offset a viewer resumes after, if the value is a plain decimal (leading zeros aside). */
const plainOffset = (v: string): number | null => (/^\d+$/.test(v) && v.length < 16 ? Number(v) : null);

const statusCounts = new Map<number, number>();

async function checkHttp(c: HttpCase): Promise<string | null> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 8_000);
  try {
    const res = await fetch(`${edge.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body, signal: ac.signal });
    statusCounts.set(res.status, (statusCounts.get(res.status) ?? 0) + 1);
    const type = res.headers.get('content-type') ?? '';
    if (res.status >= 500) return `status ${res.status}: ${(await res.text()).slice(0, 200)}`;
    if (res.status >= 400) {
      const text = await res.text();
      if (c.method === 'HEAD') return null;
      if (!type.startsWith('application/json')) return `status ${res.status} as ${type}`;
      const body = JSON.parse(text) as { type?: string; error?: { code?: string; type?: string } };
      const anthropic = c.path.startsWith('/v1/messages') && body.type === 'error' && typeof body.error?.type === 'string';
      if (!isOpenAiError(body) && !anthropic) return `not an error body: ${text.slice(0, 200)}`;
      if (body.error?.code === 'internal_error') return `internal error: ${text.slice(0, 200)}`;
      if (
        (c.kind === 'meta' || c.kind === 'events' || c.kind === 'cancel') &&
        (c.id?.kind === 'unknown' || c.id?.kind === 'malformed') &&
        res.status === 404 &&
        text !== fx.notFound
      ) {
        // `..` and the like are resolved by the URL parser before the request leaves: another route.
        const routed = /^\/v1\/generations\/[^/]+(\/events|\/cancel)?$/.test(new URL(`${edge.url}${c.path}`).pathname);
        if (routed || body.error?.code !== 'unknown_route') return `a 404 unlike the unknown-id one: ${text}`;
      }
      return checkRefusal(c, res.status, body.error?.code);
    }
    if (c.kind === 'events' && (c.id?.kind === 'unknown' || c.id?.kind === 'malformed')) return `status ${res.status} for ${c.id.kind} id ${c.id.value}`;
    if (c.kind === 'events' && c.id?.kind === 'done' && type.startsWith('text/event-stream')) return checkReplay(c, await res.text());
    await res.body?.cancel();
    return null;
  } catch (err) {
    return ac.signal.aborted ? 'no answer within 8 s' : `fetch failed: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/** The resume offset that applies, without HTTP's optional whitespace: Last-Event-ID wins over ?from. */
const resumeValue = (c: HttpCase) => (c.lastEventId === null ? c.from : c.lastEventId)?.replace(/^[\t ]+|[\t ]+$/g, '') ?? null;

function checkRefusal(c: HttpCase, status: number, code: string | undefined): string | null {
  if (c.kind !== 'events' || c.id?.kind !== 'done' || status !== 400) return null;
  const v = resumeValue(c);
  // A canonical offset of the completed fixture is never refused for being an offset (a bad ?format may be).
  const k = v === null ? 0 : /^(0|[1-9]\d{0,14})$/.test(v) ? Number(v) : null;
  if (k !== null && k <= fx.doneLast && (code === 'invalid_offset' || code === 'offset_out_of_range')) return `offset ${JSON.stringify(v)} refused with ${code}`;
  return null;
}

function checkReplay(c: HttpCase, text: string): string | null {
  const v = resumeValue(c);
  const k = v === null ? 0 : plainOffset(v);
  // Anything but a decimal offset must be a 400: never a silent replay from zero.
  if (k === null) return `200 for offset ${JSON.stringify(v)}`;
  if (k > fx.doneLast) return `200 for offset ${k} beyond the end (${fx.doneLast})`;
  if (c.path.includes('format=anthropic')) return null; // another framing, same offsets; judged by the 200 alone
  const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  const want = Array.from({ length: fx.doneLast - k }, (_, i) => k + 1 + i);
  if (ids.join(',') !== want.join(',')) return `offset ${k}: ids ${ids.join(',')} instead of ${want.join(',')}`;
  if (!text.includes('data: [DONE]')) return `offset ${k}: no [DONE]`;
  return null;
}

// ---- WebSocket sessions --------------------------------------------------------------------

type Frame = { kind: 'text'; data: string; subscribe?: { gen: string; from: unknown }; unsubscribe?: string } | { kind: 'binary'; data: Buffer };

const frameArb = (): fc.Arbitrary<Frame> =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .record({
          id: idArb,
          from: fc.oneof(fc.integer({ min: 0, max: 28 }), fc.constant(undefined), fc.constant(null), offsetArb(), fc.jsonValue({ maxDepth: 1 }), fc.double()),
          token: fc.option(printable(30), { nil: undefined, freq: 5 }),
        })
        .map(({ id, from, token }) => {
          const msg = { type: 'subscribe', gen: decodeURIComponentSafe(id.value), from, token };
          return { kind: 'text' as const, data: JSON.stringify(msg), subscribe: { gen: msg.gen, from } };
        }),
    },
    { weight: 2, arbitrary: idArb.map((id) => ({ kind: 'text' as const, data: JSON.stringify({ type: 'unsubscribe', gen: id.value }), unsubscribe: id.value })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ kind: 'text' as const, data: JSON.stringify(v) })) },
    { weight: 1, arbitrary: anyText(200).map((data) => ({ kind: 'text' as const, data })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'binary' as const, data: Buffer.from(b) })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '{"type":"subscribe","gen":{"toString":1}}',
          '{"__proto__":{"type":"subscribe"},"gen":"x"}',
          '{"type":"subscribe","gen":["gen_a"],"from":[1]}',
          '{"type":"__proto__"}',
          '{"type":"subscribe","gen":"gen_aaaaaaaaaaaaaaaaaaaaaaaaaa","from":"1\\r\\nid: 999"}',
        )
        .map((data) => ({ kind: 'text' as const, data })),
    },
  );

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

interface WsMessage {
  type: string;
  gen?: string | null;
  offset?: number;
  end?: boolean;
  code?: string;
  retryable?: boolean;
}

/** One socket, a few frames, every reply checked; resolves with what was wrong (empty: nothing). */
function wsSession(frames: Frame[]): Promise<string[]> {
  return new Promise((resolve) => {
    const problems: string[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${edge.port}/v1/ws`);
    const offsets = new Map<string, number[]>();
    let closedByServer: number | null = null;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(guard);
      if (closedByServer !== null) problems.push(`server closed the socket with ${closedByServer}`);
      for (const [gen, list] of offsets) {
        // Judged where the session subscribed once and never unsubscribed: exactly from+1, from+2, …
        const subs = frames.filter((f) => f.kind === 'text' && f.subscribe?.gen === gen);
        if (subs.length !== 1 || frames.some((f) => f.kind === 'text' && f.unsubscribe === gen)) continue;
        const from = (subs[0] as { subscribe: { from: unknown } }).subscribe.from;
        // A number, or a string of digits (the edge reads `from` as SSE reads Last-Event-ID).
        const k =
          from === undefined || from === null ? 0 : typeof from === 'number' && Number.isInteger(from) && from >= 0 ? from : typeof from === 'string' ? plainOffset(from) : null;
        if (k === null) {
          problems.push(`${gen}: events for a subscribe with from=${JSON.stringify(from)}`);
          continue;
        }
        const want = list.map((_, i) => k + 1 + i);
        if (list.join(',') !== want.join(',')) problems.push(`${gen} from ${k}: offsets ${list.join(',')}`);
      }
      ws.terminate();
      resolve(problems);
    };
    const guard = setTimeout(() => {
      problems.push('no answer to the closing sentinel within 5 s');
      finish();
    }, 5_000);
    ws.on('unexpected-response', (_req, res) => {
      problems.push(`upgrade refused: ${res.statusCode}`);
      finish();
    });
    ws.on('error', (err) => problems.push(`socket error: ${err.message}`));
    ws.on('close', (code) => {
      if (!finished) {
        closedByServer = code;
        finish();
      }
    });
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return void problems.push('a binary message from the server');
      let m: WsMessage;
      try {
        m = JSON.parse(String(raw)) as WsMessage;
      } catch {
        return void problems.push(`not JSON: ${String(raw).slice(0, 80)}`);
      }
      if (m.type === 'event') {
        if (typeof m.gen !== 'string' || typeof m.offset !== 'number') problems.push(`bad event ${String(raw).slice(0, 120)}`);
        else offsets.set(m.gen, [...(offsets.get(m.gen) ?? []), m.offset]);
      } else if (m.type === 'error') {
        if (typeof m.code !== 'string' || typeof m.retryable !== 'boolean') problems.push(`bad error ${String(raw).slice(0, 120)}`);
        if (m.code === 'internal_error') problems.push(`internal error ${String(raw).slice(0, 200)}`);
      } else if (m.type !== 'reconnect') problems.push(`unknown message type ${String(raw).slice(0, 80)}`);
      // The sentinel's answer: every earlier frame has been read; give async subscribes a moment.
      if (m.type === 'error' && m.gen === sentinel) setTimeout(finish, 60);
    });
    // Last frame: a subscribe to an id nobody has, answered with an error naming it.
    const sentinel = unknownId();
    ws.on('open', () => {
      for (const f of frames) ws.send(f.data, { binary: f.kind === 'binary' });
      ws.send(JSON.stringify({ type: 'subscribe', gen: sentinel, from: 0 }));
    });
  });
}

// ---- the tests -----------------------------------------------------------------------------

describe('property-based barrage', () => {
  let base: Stats;
  let httpRuns = 0;
  let wsFrames = 0;
  const t0 = performance.now();

  it(`PITFALLS "Last-Event-ID is caller input": ${HTTP_CASES} HTTP requests, every answer is what the protocol says, never a 5xx`, { timeout: 120_000 }, async () => {
    // Warm-up outside the count: first-use allocations are not a leak.
    for (const c of fc.sample(httpCaseArb(), { numRuns: 300, seed: SEED + 1 })) await checkHttp(c);
    base = await stats(true);
    statusCounts.clear();
    await fc.assert(
      fc.asyncProperty(httpCaseArb(), async (c) => {
        httpRuns++;
        const problem = await checkHttp(c);
        if (problem) throw new Error(`${c.method} ${c.path.slice(0, 160)} ${JSON.stringify(c.headers).slice(0, 200)} body=${c.body?.slice(0, 100) ?? '-'}: ${problem}`);
      }),
      { numRuns: HTTP_CASES, seed: SEED, endOnFailure: false },
    );
    console.log(
      `barrage: ${httpRuns} HTTP cases (seed ${SEED}) in ${((performance.now() - t0) / 1000).toFixed(1)} s; statuses ${[...statusCounts]
        .sort(([a], [b]) => a - b)
        .map(([k, n]) => `${k}×${n}`)
        .join(' ')}`,
    );
    expect(edge.child.exitCode).toBeNull();
  });

  it(`≥ ${WS_FRAMES} WebSocket frames in random sessions: only JSON events and errors back, contiguous offsets, no server close, no internal error`, {
    timeout: 120_000,
  }, async () => {
    const t1 = performance.now();
    const sessions = fc.sample(fc.array(frameArb(), { minLength: 1, maxLength: 12 }), { numRuns: Math.ceil(WS_FRAMES / 5), seed: SEED + 2 });
    const problems: string[] = [];
    let next = 0;
    const workers = Array.from({ length: 8 }, async () => {
      while (next < sessions.length && wsFrames < WS_FRAMES) {
        const frames = sessions[next++] as Frame[];
        wsFrames += frames.length;
        const p = await wsSession(frames);
        if (p.length) problems.push(`${p.join('; ')} ← ${frames.map((f) => (f.kind === 'binary' ? `<${f.data.length} bytes>` : f.data.slice(0, 80))).join(' | ')}`);
      }
    });
    await Promise.all(workers);
    console.log(`barrage: ${wsFrames} WebSocket frames in ${next} sessions in ${((performance.now() - t1) / 1000).toFixed(1)} s; problems ${problems.length}`);
    if (problems.length) console.log(problems.slice(0, 10).join('\n'));
    expect(problems).toEqual([]);
    expect(wsFrames).toBeGreaterThanOrEqual(WS_FRAMES);
  });

  it('PITFALLS "Check `Origin`" and "Set `maxPayload`": an oversized frame closes with 1009, a flood with 4029, a foreign Origin gets 403; ws ≥ 8.17.1', async () => {
    // The ws the edge runs (through @fastify/websocket), not just the one the tests use.
    const edgeRequire = createRequire(`${ROOT}apps/edge/package.json`);
    const wsDir = dirname(edgeRequire.resolve('ws'));
    const version = (JSON.parse(readFileSync(`${wsDir}/package.json`, 'utf8')) as { version: string }).version;
    const [major, minor, patch] = version.split('.').map(Number) as [number, number, number];
    expect(major > 8 || (major === 8 && (minor > 17 || (minor === 17 && patch >= 1))), `ws ${version}`).toBe(true);

    const open = (origin?: string) =>
      new Promise<WebSocket | number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${edge.port}/v1/ws`, origin ? { origin } : {});
        ws.once('open', () => resolve(ws));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => {});
      });
    const closed = (ws: WebSocket) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

    const big = (await open()) as WebSocket;
    const bigClosed = closed(big);
    big.send('x'.repeat(WS_MAX_PAYLOAD + 1));
    expect(await bigClosed).toBe(1009);

    const flood = (await open()) as WebSocket;
    const floodClosed = closed(flood);
    for (let i = 0; i < WS_MAX_PER_SECOND * 3; i++) flood.send('{"type":"unsubscribe","gen":"gen_aaaaaaaaaaaaaaaaaaaaaaaaaa"}');
    expect(await floodClosed).toBe(4029);

    expect(await open('https://evil.example')).toBe(403);
    expect(await open('null')).toBe(403);
    // The refusal is an ordinary HTTP answer in the OpenAI error shape.
    const foreign = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${edge.url}/v1/ws`, {
        headers: { connection: 'Upgrade', upgrade: 'websocket', origin: 'https://evil.example', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded for a foreign Origin')));
      req.on('error', reject);
      req.end();
    });
    expect(foreign.status).toBe(403);
    expect((JSON.parse(foreign.body) as { error: { code: string } }).error.code).toBe('origin_not_allowed');
    for (const origin of [ALLOWED_ORIGIN, `http://127.0.0.1:${edge.port}`]) {
      const ok = await open(origin);
      expect(ok, origin).toBeInstanceOf(WebSocket);
      (ok as WebSocket).close();
    }
    expect(edge.child.exitCode).toBeNull();
  });

  it('afterwards: the edge is up, holds nothing, and its heap is flat', async () => {
    // End the live fixture; its viewers and channels must all go away.
    await fetch(`${edge.url}/v1/generations/${fx.live}/cancel`, { method: 'POST' });
    const deadline = Date.now() + 10_000;
    let after = await stats(true);
    while ((after.sinks > 0 || after.channels > 0 || after.followed > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      after = await stats(true);
    }
    const growth = (after.heapUsed - base.heapUsed) / 2 ** 20;
    console.log(
      `barrage totals: ${httpRuns + wsFrames} cases (${httpRuns} HTTP, ${wsFrames} WebSocket frames) in ${((performance.now() - t0) / 1000).toFixed(1)} s; heap ${(base.heapUsed / 2 ** 20).toFixed(1)} → ${(after.heapUsed / 2 ** 20).toFixed(1)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB); sinks ${after.sinks}, channels ${after.channels}`,
    );
    expect(httpRuns + wsFrames).toBeGreaterThanOrEqual(10_000);
    expect(after).toMatchObject({ sinks: 0, channels: 0, followed: 0, gc: true });
    expect(growth).toBeLessThan(8);
    expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
    // Still does its job.
    const r = await readSse(`${edge.url}/v1/generations/${fx.done}/events`);
    expect(r.text).toBe(fx.doneText);
    expect(edge.child.exitCode).toBeNull();
  });
});
