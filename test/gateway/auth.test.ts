import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisEngine, type Engine } from '@tokencast/engine';
import { mockText } from '@tokencast/producer';
import { parseChatRequest } from '@tokencast/protocol';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc } from '../support/processes.js';
import { readSse } from '../support/sse.js';
import { type Cluster, call, chat, expectError, type JsonResponse, startCluster, unknownId } from './support.js';

/**
 * API keys and read tokens against real edge processes sharing one Redis:
 *   e1: API_KEYS (alice, bob, erin), shared READ_TOKEN_SECRET, debug logs
 *   e2: API_KEYS_FILE as JSON (alice, carol), same secret
 *   e3: API_KEYS_FILE as lines (alice, frank), its own random secret, READ_TOKEN_TTL_SECONDS=1
 */
const secretKey = (name: string) => `sk-${name}-${randomBytes(18).toString('hex')}`;
const K = { alice: secretKey('alice'), bob: secretKey('bob'), erin: secretKey('erin'), carol: secretKey('carol'), frank: secretKey('frank'), dave: secretKey('dave') };
const WRONG = secretKey('mallory');
const AUTH_CACHE_MS = 200;
const TOKEN_SHAPE = /^rt1\.gen_[a-z2-7]{26}\.\d{1,12}\.[A-Za-z0-9_-]{43}$/;

let cluster: Cluster;
let e1: Proc;
let e2: Proc;
let e3: Proc;
let engine: Engine;
let dir: string;
/** Every read token the edges issued: their signatures must never reach a log. */
const issued: string[] = [];

async function create(edge: Proc, key: string, body = chat(12)): Promise<{ id: string; token: string; body: Record<string, unknown> }> {
  const res = await call(`${edge.url}/v1/generations`, { json: body, key });
  expect(res.status, res.text).toBe(202);
  expect(res.body.read_token).toMatch(TOKEN_SHAPE);
  issued.push(res.body.read_token);
  return { id: res.body.id, token: res.body.read_token, body };
}

const reference = (body: Record<string, unknown>) => mockText(parseChatRequest(body, { maxTokensCap: 1_000_000, maxPromptChars: 1_000_000 })).text;
const meta = (edge: Proc, id: string, key?: string) => call(`${edge.url}/v1/generations/${id}`, { key });
const events = (edge: Proc, id: string, key?: string) => call(`${edge.url}/v1/generations/${id}/events`, { key });
const withSig = (token: string, sig: string) => `${token.slice(0, token.lastIndexOf('.'))}.${sig}`;

function expectSameAsUnknown(res: JsonResponse, unknown: JsonResponse): void {
  expect(res.status).toBe(404);
  expect(res.text).toBe(unknown.text);
  expect(res.headers.get('content-type')).toBe(unknown.headers.get('content-type'));
}

beforeAll(async () => {
  cluster = await startCluster();
  dir = mkdtempSync(join(tmpdir(), 'tokencast-keys-'));
  const jsonFile = join(dir, 'keys.json');
  writeFileSync(jsonFile, JSON.stringify({ alice: K.alice, carol: K.carol }));
  const linesFile = join(dir, 'keys.txt');
  writeFileSync(linesFile, `# name key\nalice ${K.alice}\n\n  frank   ${K.frank}  \n`);
  const shared = { READ_TOKEN_SECRET: randomBytes(32).toString('hex'), AUTH_CACHE_MS: String(AUTH_CACHE_MS) };
  [e1, e2, e3] = await Promise.all([
    cluster.edge({ ...shared, LOG_LEVEL: 'debug', API_KEYS: `alice:${K.alice}, bob:${K.bob},erin:${K.erin}` }),
    cluster.edge({ ...shared, API_KEYS_FILE: jsonFile }),
    cluster.edge({ AUTH_CACHE_MS: String(AUTH_CACHE_MS), API_KEYS_FILE: linesFile, READ_TOKEN_TTL_SECONDS: '1' }),
    cluster.producer(),
  ]);
  engine = createRedisEngine({ url: cluster.redis.url, prefix: cluster.prefix, name: 'test' });
});

afterAll(async () => {
  await engine?.close();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('API keys', () => {
  it('refuses a request without a key: 401 missing_api_key', async () => {
    expectError(await call(`${e1.url}/v1/generations`, { json: chat(3) }), 401, 'missing_api_key');
    expectError(await call(`${e1.url}/v1/chat/completions`, { json: chat(3) }), 401, 'missing_api_key');
    expectError(await events(e1, unknownId()), 401, 'missing_api_key');
    expectError(await call(`${e1.url}/v1/generations/${unknownId()}`, { method: 'DELETE' }), 401, 'missing_api_key');
  });

  it('refuses a wrong key (401 invalid_api_key) and a malformed Authorization header', async () => {
    expectError(await call(`${e1.url}/v1/generations`, { json: chat(3), key: WRONG }), 401, 'invalid_api_key');
    expectError(await events(e1, unknownId(), WRONG), 401, 'invalid_api_key');
    // A key from another edge's file is not a key here.
    expectError(await call(`${e1.url}/v1/generations`, { json: chat(3), key: K.carol }), 401, 'invalid_api_key');
    const basic = await call(`${e1.url}/v1/generations`, { json: chat(3), headers: { authorization: `Basic ${Buffer.from(`u:${K.alice}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
    expect(basic.body.error.type).toBe('authentication_error');
  });

  it('reads keys from API_KEYS_FILE, as JSON and as lines', async () => {
    await create(e2, K.carol);
    await create(e2, K.alice);
    await create(e3, K.frank);
    await create(e3, K.alice);
    expectError(await call(`${e3.url}/v1/generations`, { json: chat(3), key: K.carol }), 401, 'invalid_api_key');
  });

  it('a key stored in the engine works on every edge until it is revoked', async () => {
    await engine.keys.add('dave', createHash('sha256').update(K.dave).digest('hex'));
    await create(e1, K.dave);
    await create(e2, K.dave);
    expect(await engine.keys.revoke('dave')).toBe(true);
    await sleep(AUTH_CACHE_MS + 150);
    expectError(await call(`${e1.url}/v1/generations`, { json: chat(3), key: K.dave }), 401, 'invalid_api_key');
    expectError(await call(`${e2.url}/v1/generations`, { json: chat(3), key: K.dave }), 401, 'invalid_api_key');
  });

  it('a key from the environment can be revoked by name', async () => {
    await create(e1, K.erin);
    await engine.keys.revoke('erin');
    await sleep(AUTH_CACHE_MS + 150);
    expectError(await call(`${e1.url}/v1/generations`, { json: chat(3), key: K.erin }), 401, 'invalid_api_key');
    await create(e1, K.alice); // the others still work
  });
});

describe('watching', () => {
  it('the creating key watches; another key gets the same 404 as an unknown id', async () => {
    const g = await create(e1, K.alice);
    const own = await readSse(`${e1.url}/v1/generations/${g.id}/events`, { headers: { authorization: `Bearer ${K.alice}` } });
    expect(own.status).toBe(200);
    expect(own.done).toBe(true);
    expect(own.text).toBe(reference(g.body));
    // The same key name on another edge (from its file) is the same owner.
    expect((await events(e2, g.id, K.alice)).status).toBe(200);

    const unknownEvents = await events(e1, unknownId(), K.bob);
    const unknownMeta = await meta(e1, unknownId(), K.bob);
    expectError(unknownEvents, 404, 'generation_not_found');
    expectSameAsUnknown(await events(e1, g.id, K.bob), unknownEvents);
    expectSameAsUnknown(await meta(e1, g.id, K.bob), unknownMeta);
    expectSameAsUnknown(await call(`${e1.url}/v1/generations/${g.id}`, { method: 'DELETE', key: K.bob }), unknownMeta);
    expectSameAsUnknown(await call(`${e1.url}/v1/generations/${g.id}/cancel`, { method: 'POST', key: K.bob }), unknownMeta);
    expect((await meta(e1, g.id, K.alice)).body.status).toBe('completed');
  });

  it('a read token watches its generation only; for another one the answer is the unknown-id 404', async () => {
    const a = await create(e1, K.alice);
    const b = await create(e1, K.alice);
    const viaToken = await readSse(`${e1.url}/v1/generations/${a.id}/events`, { headers: { authorization: `Bearer ${a.token}` } });
    expect(viaToken.status).toBe(200);
    expect(viaToken.text).toBe(reference(a.body));
    expect((await meta(e1, a.id, a.token)).body.id).toBe(a.id);

    const unknownEvents = await events(e1, unknownId(), a.token);
    const unknownMeta = await meta(e1, unknownId(), a.token);
    expectError(unknownEvents, 404, 'generation_not_found');
    expectSameAsUnknown(await events(e1, b.id, a.token), unknownEvents);
    expectSameAsUnknown(await meta(e1, b.id, a.token), unknownMeta);
    expectSameAsUnknown(await call(`${e1.url}/v1/generations/${b.id}/events?token=${encodeURIComponent(a.token)}`), unknownEvents);
    // A read token watches; it cannot cancel, nor create.
    expectSameAsUnknown(await call(`${e1.url}/v1/generations/${a.id}`, { method: 'DELETE', key: a.token }), unknownMeta);
    expect((await call(`${e1.url}/v1/generations`, { json: chat(3), key: a.token })).status).toBe(401);
  });

  it('?token= works for EventSource, which cannot set headers', async () => {
    const g = await create(e1, K.alice, chat(25));
    const es = new EventSource(`${e1.url}/v1/generations/${g.id}/events?token=${encodeURIComponent(g.token)}`);
    const text = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`EventSource got no [DONE]; text so far: ${out}`)), 10_000);
      es.onmessage = (ev) => {
        if (ev.data === '[DONE]') {
          clearTimeout(timer);
          resolve(out);
          return;
        }
        const j = JSON.parse(ev.data) as { choices: { delta: { content?: string } }[] };
        out += j.choices[0]?.delta.content ?? '';
      };
      es.onerror = (err) => {
        if (es.readyState === EventSource.CLOSED) reject(new Error(`EventSource failed: ${String(err.message)}`));
      };
    });
    es.close();
    expect(text).toBe(reference(g.body));
    // Without the token the same URL is refused.
    expectError(await events(e1, g.id), 401, 'missing_api_key');
  });

  it('edges sharing READ_TOKEN_SECRET and Redis accept each other’s tokens; another secret does not', async () => {
    const one = await create(e1, K.alice);
    const two = await create(e2, K.carol);
    const r1 = await readSse(`${e2.url}/v1/generations/${one.id}/events?token=${encodeURIComponent(one.token)}`);
    expect(r1.status).toBe(200);
    expect(r1.text).toBe(reference(one.body));
    const r2 = await readSse(`${e1.url}/v1/generations/${two.id}/events`, { headers: { authorization: `Bearer ${two.token}` } });
    expect(r2.status).toBe(200);
    expect(r2.text).toBe(reference(two.body));
    expectError(await events(e3, one.id, one.token), 401, 'invalid_token');
  });

  it('a tampered token is refused: 401 invalid_token', async () => {
    const a = await create(e1, K.alice);
    const b = await create(e1, K.alice);
    const [, id, exp, sig] = a.token.split('.') as [string, string, string, string];
    const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11);
    const forged = [
      withSig(a.token, flipped),
      `rt1.${b.id}.${exp}.${sig}`, // another generation with this signature
      `rt1.${id}.${Number(exp) + 3600}.${sig}`, // a longer life
      `rt1.${id}.${exp}`,
      `rt1.${id}.${exp}.${sig}.x`,
      `rt1.${id}.-1.${sig}`,
      'rt1.',
    ];
    for (const t of forged) {
      expectError(await events(e1, a.id, t), 401, 'invalid_token');
      expectError(await call(`${e1.url}/v1/generations/${a.id}/events?token=${encodeURIComponent(t)}`), 401, 'invalid_token');
    }
    expect((await events(e1, a.id, a.token)).status).toBe(200);
  });

  it('an expired token is refused: 401 token_expired', async () => {
    const g = await create(e3, K.frank);
    expect((await meta(e3, g.id, g.token)).status).toBe(200);
    const exp = Number(g.token.split('.')[2]);
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 100);
    expectError(await meta(e3, g.id, g.token), 401, 'token_expired');
    expectError(await events(e3, g.id, g.token), 401, 'token_expired');
    expectError(await call(`${e3.url}/v1/generations/${g.id}/events?token=${encodeURIComponent(g.token)}`), 401, 'token_expired');
    expect((await meta(e3, g.id, K.frank)).status).toBe(200); // the key itself still watches
  });
});

describe('secrets stay out of the logs', () => {
  it('no key and no token signature appears in any process output', async () => {
    // Credentials in every place a request can carry them, valid and not.
    const g = await create(e1, K.alice);
    const inQuery = [K.alice, K.bob, WRONG, g.token, withSig(g.token, 'A'.repeat(43))];
    for (const cred of inQuery) await call(`${e1.url}/v1/generations/${g.id}/events?token=${encodeURIComponent(cred)}&from=0`);
    await call(`${e1.url}/v1/generations/${g.id}?token=${encodeURIComponent(K.alice)}`);
    await call(`${e1.url}/v1/nope?token=${encodeURIComponent(K.bob)}`, { key: K.bob });
    await call(`${e1.url}/v1/generations`, { json: chat(3), key: `${K.alice}x` });
    await call(`${e1.url}/v1/generations`, { body: '{bad json', key: K.alice, headers: { 'content-type': 'application/json' } });
    await call(`${e1.url}/v1/generations/${g.id}`, { method: 'DELETE', key: K.alice });
    await sleep(200); // request lines are written when responses close
    const secrets = [...Object.values(K), WRONG, ...issued.map((t) => t.split('.')[3] as string)];
    const logs = cluster.procs.map((p) => p.logs()).join('\n');
    expect(logs).toMatch(/"msg":"request"/); // the logs were captured, with request lines
    expect(logs).toContain('"key":"alice"'); // key names are logged, keys are not
    const hits = secrets.filter((s) => logs.includes(s));
    console.log(`log scan: ${logs.split('\n').length} lines, ${secrets.length} secrets, ${hits.length} hits`);
    expect(hits).toEqual([]);
  });
});
