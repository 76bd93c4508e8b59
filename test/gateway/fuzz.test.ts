import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc } from '../support/processes.js';
import { readSse } from '../support/sse.js';
import { type Cluster, call, chat, isOpenAiError, rssBytes, startCluster, unknownId } from './support.js';

/**
 * A barrage of malformed requests at one edge process over raw sockets (so that headers no
 * well-behaved client would send can be sent): bodies, Authorization, Last-Event-ID,
 * Content-Type, Accept, path ids and query strings. Never a 5xx, never a hang, every error is
 * OpenAI-style JSON (Anthropic-style on /v1/messages), the process stays up and its memory flat.
 */
const alice = `sk-alice-${randomBytes(16).toString('hex')}`;
const TOTAL = Number(process.env.FUZZ_TOTAL ?? 8_000);
const WARMUP = 2_000;
/** RSS is read after the warm-up and every CHECKPOINT requests after it. */
const CHECKPOINT = 2_000;
const CONCURRENCY = 8;
const REQUEST_TIMEOUT_MS = 10_000;

let cluster: Cluster;
let edge: Proc;
let gen: { id: string; token: string };

beforeAll(async () => {
  cluster = await startCluster();
  const fast = { MOCK_TTFT_MS: '1', MOCK_TOKENS_PER_SECOND: '5000' };
  [edge] = await Promise.all([cluster.edge({ API_KEYS: `alice:${alice}`, BODY_LIMIT_BYTES: '65536', ...fast }), cluster.producer(fast)]);
  const created = await call(`${edge.url}/v1/generations`, { json: chat(20), key: alice });
  gen = { id: created.body.id, token: created.body.read_token };
  const watched = await readSse(`${edge.url}${created.body.events_url}`, { headers: { authorization: `Bearer ${alice}` } });
  expect(watched.done).toBe(true);
});

afterAll(async () => {
  await cluster?.stop();
});

interface RawRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer | null;
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

// ---- generators -------------------------------------------------------------------------

/** Header-safe text: printable ASCII, tabs, and bytes above 0x7f (obs-text), never CR or LF. */
const headerText = (maxLength = 200) =>
  fc
    .array(
      fc.oneof(
        { weight: 20, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
        { weight: 1, arbitrary: fc.constant(0x09) },
        { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
      ),
      { maxLength },
    )
    .map((codes) => Buffer.from(codes).toString('latin1'));
const ctl = fc.constantFrom('\u0000', '\u0001', '\u007f', '\u001b');
const junk = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), headerText(40));
const enc = (s: string) => encodeURIComponent(s);

const idArb = () =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(gen.id) },
    fc.constant(gen.id.toUpperCase()),
    fc.constant(`${gen.id}x`),
    fc.constant(gen.id.slice(0, -1)),
    fc.constant(unknownId()),
    fc.constant('gen_'),
    fc.constant('..'),
    fc.constant('%2e%2e%2f%2e%2e'),
    fc.constant('x'.repeat(5_000)),
    junk.map(enc),
    fc.stringMatching(/^gen_[a-z2-9]{20,30}$/),
  );

const offsetArb = fc.oneof(
  fc.integer({ min: -5, max: 40 }).map(String),
  fc.constantFrom('', ' 1', '1 ', '01', '1e3', '0x10', '-0', '1.5', '99999999999999999999999', 'NaN', 'Infinity', '1,2', '+3'),
  fc.bigInt({ min: 0n, max: 2n ** 80n }).map(String),
  headerText(30),
);

const queryArb = () =>
  fc
    .array(
      fc.oneof(
        offsetArb.map((v) => `from=${enc(v)}`),
        fc.constantFrom(gen.token, alice, `${gen.token}x`, 'rt1.', 'rt1.a.b.c').map((v) => `token=${enc(v)}`),
        junk.map((v) => `token=${enc(v)}`),
        fc.constantFrom('true', 'false', '1', '0', 'yes', '').map((v) => `include_usage=${v}`),
        fc.constantFrom('openai', 'anthropic', 'xml', '').map((v) => `format=${v}`),
        fc.constantFrom('%', '%%', '%zz', 'a[b]=c', 'a[__proto__][x]=1', '__proto__=1', 'constructor[prototype][x]=1', '&&&', '=', 'from'),
        junk.map(enc),
      ),
      { maxLength: 4 },
    )
    .map((parts) => (parts.length ? `?${parts.join('&')}` : ''));

/** Anything at all: a route, an id path or junk, with any method. */
const anyPathArb = () =>
  fc.oneof(
    fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/generations', '/v1/messages'),
    fc.tuple(idArb(), fc.constantFrom('', '/events', '/cancel', '/events/', '//events')).map(([id, tail]) => `/v1/generations/${id}${tail}`),
    fc.constantFrom('/v1/models', '/healthz', '/readyz', '/', '/v1', '/v1/', '//v1//generations', '/v1/generations/', '/v1/ws', '/metrics'),
    junk.map((s) => `/${enc(s)}`),
  );

/** Mostly the right method for a real route, so most requests get past routing into the handlers. */
const routeArb = (): fc.Arbitrary<{ method: string; path: string; creates: boolean }> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/generations', '/v1/messages').map((path) => ({ method: 'POST', path, creates: true })),
    },
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.constantFrom('GET', 'GET', 'GET', 'HEAD'), idArb(), fc.constantFrom('', '/events', '/events'))
        .map(([method, id, tail]) => ({ method, path: `/v1/generations/${id}${tail}`, creates: false })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom('DELETE /', 'POST /cancel'), idArb()).map(([m, id]) => {
        const [method, tail] = m.split(' /') as [string, string];
        return { method, path: `/v1/generations/${id}${tail ? `/${tail}` : ''}`, creates: false };
      }),
    },
    { weight: 1, arbitrary: fc.constantFrom('/v1/models', '/healthz', '/readyz', '/v1/ws', '/metrics').map((path) => ({ method: 'GET', path, creates: false })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD', 'FOO', 'get', 'TRACE'), anyPathArb())
        .map(([method, path]) => ({ method, path, creates: method === 'POST' })),
    },
  );

const validChat = () => ({ model: 'mock', messages: [{ role: 'user', content: 'fuzz [mock:len=3]' }], stream: false, max_tokens: 5 });

/** A valid body with one field swapped for any JSON value. */
const mutatedBody = fc
  .tuple(
    fc.constantFrom(
      'model',
      'messages',
      'stream',
      'max_tokens',
      'stream_options',
      'prompt',
      'n',
      'temperature',
      'stop',
      'max_completion_tokens',
      'messages.0',
      'messages.0.role',
      'messages.0.content',
      '__proto__',
    ),
    fc.jsonValue({ maxDepth: 3 }),
  )
  .map(([field, value]) => {
    const body: Record<string, unknown> = validChat();
    // Assigning __proto__ would set the prototype, not a key: write that one into the text.
    if (field === '__proto__') return JSON.stringify(body).replace(/^\{/, `{"__proto__":${JSON.stringify(value)},`);
    const [top, i, sub] = field.split('.') as [string, string?, string?];
    if (i === undefined) body[top] = value;
    else if (sub === undefined) (body.messages as unknown[])[0] = value;
    else ((body.messages as Record<string, unknown>[])[0] as Record<string, unknown>)[sub] = value;
    return JSON.stringify(body);
  });

const bodyArb = fc.oneof(
  { weight: 4, arbitrary: mutatedBody },
  { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '{',
      'null',
      '[]',
      '"x"',
      '{"model":"mock","messages":[{"role":"user","content":"a"}],"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{"x":1}},"model":"mock"}',
      `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
      `{"model":"mock","messages":[{"role":"user","content":"${'a'.repeat(70_000)}"}]}`,
      '{"model":"mock","messages":[{"role":"user","content":"\\ud800"}]}',
      '\u0000\u0001\u0002',
    ),
  },
);

const authArb = () =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 6, arbitrary: fc.constant(`Bearer ${alice}`) },
    { weight: 4, arbitrary: fc.constant(`Bearer ${gen.token}`) },
    fc.constantFrom(
      `Bearer ${alice}`,
      `Bearer ${gen.token}`,
      `bearer ${alice}`,
      `Bearer  ${alice}  `,
      'Bearer',
      'Bearer ',
      `Basic ${alice}`,
      `Bearer ${alice}${alice}`,
      `Bearer ${'k'.repeat(600)}`,
    ),
    fc.constantFrom(`Bearer ${gen.token.replace(/.$/, '_')}`, `Bearer rt1.${gen.id}.1.${'A'.repeat(43)}`, 'Bearer rt1.'),
    headerText(120).map((s) => `Bearer ${s}`),
    headerText(120),
  );

const headersArb = () =>
  fc
    .record(
      {
        authorization: authArb(),
        lastEventId: fc.option(offsetArb, { nil: null }),
        contentType: fc.option(
          fc.oneof(
            { weight: 8, arbitrary: fc.constant('application/json') },
            fc.constantFrom(
              'application/json',
              'application/json; charset=utf-8',
              'application/json; charset=utf-16',
              'text/plain',
              'multipart/form-data; boundary=x',
              'application/x-www-form-urlencoded',
              'APPLICATION/JSON',
              'application/json;;;',
            ),
            headerText(60),
          ),
          { nil: null },
        ),
        accept: fc.option(fc.oneof(fc.constantFrom('text/event-stream', 'application/json', '*/*', 'text/html'), headerText(60)), { nil: null }),
        control: fc.oneof(
          { weight: 30, arbitrary: fc.constant(null) },
          { weight: 1, arbitrary: fc.tuple(fc.constantFrom('authorization', 'last-event-id', 'content-type', 'accept'), ctl) },
        ),
      },
      { requiredKeys: ['authorization', 'lastEventId', 'contentType', 'accept', 'control'] },
    )
    .map((h) => {
      const out: [string, string][] = [];
      if (h.authorization !== null) out.push(['authorization', h.authorization]);
      if (h.lastEventId !== null) out.push(['last-event-id', h.lastEventId]);
      if (h.contentType !== null) out.push(['content-type', h.contentType]);
      if (h.accept !== null) out.push(['accept', h.accept]);
      // Rarely, a control character in a header: the HTTP parser refuses it before any route runs.
      if (h.control) out.push([h.control[0], `a${h.control[1]}b`]);
      return out;
    });

const requestArb = (): fc.Arbitrary<RawRequest> =>
  fc
    .record({
      route: routeArb(),
      query: queryArb(),
      headers: headersArb(),
      body: bodyArb,
      bodyless: fc.integer({ min: 0, max: 9 }),
    })
    .map(({ route, query, headers, body, bodyless }) => {
      // Bodies mostly where they belong; sometimes where they do not, or missing where needed.
      const withBody = route.creates ? bodyless > 0 : bodyless === 0;
      return { method: route.method, path: route.path + query, headers, body: withBody ? Buffer.from(body, 'utf8') : null };
    });

// ---- raw HTTP -----------------------------------------------------------------------------

function send(port: number, req: RawRequest): Promise<RawResponse | { error: string }> {
  return new Promise((resolve) => {
    const lines = [`${req.method} ${req.path} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close', ...req.headers.map(([k, v]) => `${k}: ${v}`)];
    if (req.body) lines.push(`content-length: ${req.body.length}`);
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    const chunks: Buffer[] = [];
    const sock = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ error: 'timeout' });
    }, REQUEST_TIMEOUT_MS);
    // write, not end: a half-closed socket may lose the answer to a request the parser refused.
    sock.on('connect', () => sock.write(req.body ? Buffer.concat([head, req.body]) : head));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => {}); // a reset after the answer is fine; no answer is caught below
    sock.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      if (!m || split < 0) {
        resolve({ error: `no response (${raw.length} bytes: ${JSON.stringify(raw.slice(0, 80))})` });
        return;
      }
      const headers: Record<string, string> = {};
      for (const line of raw.slice(0, split).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let body = raw.slice(split + 4);
      if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
      resolve({ status: Number(m[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8') });
    });
  });
}

function dechunk(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const eol = s.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = Number.parseInt(s.slice(i, eol), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
  return out;
}

function isAnthropicError(body: unknown): boolean {
  const b = body as { type?: unknown; error?: { type?: unknown; message?: unknown } };
  return b?.type === 'error' && typeof b.error?.type === 'string' && typeof b.error.message === 'string';
}

/** What is wrong with this answer; null when it is fine. */
function judge(req: RawRequest, res: RawResponse | { error: string }): string | null {
  if ('error' in res) return res.error;
  if (res.status >= 500) return `status ${res.status}: ${res.body.slice(0, 200)}`;
  if (res.status < 400) return null;
  if (!/^application\/json/.test(res.headers['content-type'] ?? '')) return `status ${res.status} with content-type ${res.headers['content-type']}: ${res.body.slice(0, 200)}`;
  if (req.method === 'HEAD') return null;
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return `status ${res.status}, body is not JSON: ${res.body.slice(0, 200)}`;
  }
  // /v1/messages answers in Anthropic's shape, except for requests the HTTP parser refused
  // before any route was known.
  const parserRefused = isOpenAiError(body) && (body as { error: { code: string } }).error.code === 'malformed_request';
  if (req.path.startsWith('/v1/messages') && req.method === 'POST' && !parserRefused) return isAnthropicError(body) ? null : `not an Anthropic error: ${res.body.slice(0, 200)}`;
  return isOpenAiError(body) ? null : `not an OpenAI error: ${res.body.slice(0, 200)}`;
}

// ---- the barrage --------------------------------------------------------------------------

describe('fuzz-style barrage', () => {
  it(`${TOTAL} malformed requests: no 5xx, no hang, OpenAI-style errors, no crash, flat memory`, { timeout: 90_000 }, async () => {
    // A fixed seed makes a failure reproducible; FUZZ_SEED explores other requests.
    const requests = fc.sample(requestArb(), { numRuns: TOTAL, seed: Number(process.env.FUZZ_SEED ?? 20_251_125) });
    const statuses = new Map<number, number>();
    const codes = new Map<string, number>();
    const problems: string[] = [];
    let sent = 0;
    let rssAfterWarmup = 0;
    const started = performance.now();
    const run = async (from: number, to: number) => {
      let next = from;
      const workers = Array.from({ length: CONCURRENCY }, async () => {
        while (next < to) {
          const req = requests[next++] as RawRequest;
          const res = await send(edge.port, req);
          sent++;
          if (!('error' in res)) {
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            const code =
              res.status >= 400 ? (/"code":"([a-z_]+)"/.exec(res.body)?.[1] ?? /"type":"([a-z_]+)"/.exec(res.body)?.[1] ?? (req.method === 'HEAD' ? '(head)' : '?')) : null;
            if (code) codes.set(code, (codes.get(code) ?? 0) + 1);
          }
          const bad = judge(req, res);
          if (bad)
            problems.push(
              `${req.method} ${req.path.slice(0, 120)} [${req.headers.map(([k, v]) => `${k}: ${v.slice(0, 40)}`).join('; ')}] body=${req.body?.toString('utf8').slice(0, 80) ?? '-'} → ${bad}`,
            );
        }
      });
      await Promise.all(workers);
    };
    await run(0, WARMUP);
    rssAfterWarmup = rssBytes(edge.pid);
    const rssSeries = [rssAfterWarmup];
    for (let at = WARMUP; at < TOTAL; at += CHECKPOINT) {
      await run(at, Math.min(TOTAL, at + CHECKPOINT));
      rssSeries.push(rssBytes(edge.pid));
    }
    const rssEnd = rssSeries.at(-1) as number;
    const seconds = (performance.now() - started) / 1000;

    const health = await call(`${edge.url}/healthz`);
    const byClass = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`);
    const byCode = [...codes.entries()].sort(([, a], [, b]) => b - a).map(([c, n]) => `${c}×${n}`);
    const growthMb = (rssEnd - rssAfterWarmup) / 2 ** 20;
    console.log(
      `fuzz: ${sent} requests in ${seconds.toFixed(1)} s; statuses ${byClass.join(' ')}; problems ${problems.length}\n` +
        `fuzz error codes: ${byCode.join(' ')}\n` +
        `fuzz RSS (MB) after ${WARMUP}, then every ${CHECKPOINT}: ${rssSeries.map((b) => (b / 2 ** 20).toFixed(1)).join(' → ')} (${growthMb >= 0 ? '+' : ''}${growthMb.toFixed(1)} MB)`,
    );
    if (problems.length) console.log(problems.slice(0, 15).join('\n'));
    expect(sent).toBe(TOTAL);
    expect(problems).toEqual([]);
    expect(health.status).toBe(200);
    expect(edge.child.exitCode).toBeNull();
    expect(growthMb).toBeLessThan(48);
    // The edge still does its job.
    const after = await readSse(`${edge.url}/v1/generations/${gen.id}/events`, { headers: { authorization: `Bearer ${gen.token}` } });
    expect(after.done).toBe(true);
  });

  it('protocol-level garbage gets a 4xx (or a closed connection), never a 5xx or a crash', async () => {
    const raw = [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/9.9\r\nhost: x\r\n\r\n',
      'GET /healthz HTTP/1.1\r\nno-colon-here\r\n\r\n',
      `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'POST /v1/generations HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /v1/generations HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n',
      'POST /v1/generations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":1}',
      'GET /v1/generations/%ZZ HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET /v1/generations/\u0000 HTTP/1.1\r\nhost: x\r\n\r\n',
      'CONNECT 127.0.0.1:1 HTTP/1.1\r\nhost: x\r\n\r\n',
    ];
    const outcomes: string[] = [];
    for (const text of raw) {
      const res = await new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        const sock = connect(edge.port, '127.0.0.1');
        const timer = setTimeout(() => {
          sock.destroy();
          resolve('timeout');
        }, 3_000);
        sock.on('connect', () => sock.end(Buffer.from(text, 'latin1')));
        sock.on('data', (d: Buffer) => chunks.push(d));
        sock.on('error', () => {});
        sock.on('close', () => {
          clearTimeout(timer);
          const s = Buffer.concat(chunks).toString('latin1');
          resolve(/^HTTP\/1\.[01] (\d{3})/.exec(s)?.[1] ?? 'closed');
        });
      });
      outcomes.push(res);
    }
    console.log(`protocol garbage outcomes: ${outcomes.join(' ')}`);
    for (const o of outcomes) expect(o === 'closed' || o === 'timeout' || (Number(o) >= 400 && Number(o) < 500), o).toBe(true);
    expect((await call(`${edge.url}/healthz`)).status).toBe(200);
  });
});
