import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEdge, startEmbedded } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';

/**
 * Issue #14, item 2 (the quota half): per-key limits on Durable Streams, count
 * (DURABLE_STREAMS_MAX_PER_KEY) and bytes (DURABLE_STREAMS_MAX_BYTES_PER_KEY), checked atomically
 * with the write, given back by DELETE and by expiry, 0 meaning unlimited; streams created
 * without keys are not counted. Run against the memory engine (embedded), one redis-server with
 * two edges (so a burst comes through two processes), and a Redis Cluster (the ledger and the
 * streams sit on different slots).
 */
const KEYS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hugo'];
const API_KEYS = KEYS.map((k) => `${k}:sk-${k}-0123456789abcdef`).join(',');
const auth = (key: string) => ({ authorization: `Bearer sk-${key}-0123456789abcdef` });
const MAX_STREAMS = 3;
const MAX_BYTES = 1_000;
const LIMITS = { API_KEYS, DURABLE_STREAMS_MAX_PER_KEY: String(MAX_STREAMS), DURABLE_STREAMS_MAX_BYTES_PER_KEY: String(MAX_BYTES), LOG_LEVEL: 'warn' };

interface Setup {
  /** Edges with the limits above (several share one store on Redis). */
  limited: string[];
  /** An edge with both limits 0. */
  unlimited: string;
  /** An edge with the limits above and no API keys. */
  anonymous: string;
  stop(): Promise<void>;
}

interface Answer {
  status: number;
  code: string | null;
  message: string;
}

async function send(url: string, init: RequestInit): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let code: string | null = null;
  let message = '';
  if (res.status >= 400 && text !== '') {
    const body = JSON.parse(text) as { error: { code: string; message: string } };
    code = body.error.code;
    message = body.error.message;
  }
  return { status: res.status, code, message };
}

const put = (base: string, key: string | null, name: string, body?: string, headers: Record<string, string> = {}) =>
  send(`${base}/v1/stream/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'text/plain', ...(key ? auth(key) : {}), ...headers },
    ...(body === undefined ? {} : { body }),
  });
const post = (base: string, key: string | null, name: string, body: string, headers: Record<string, string> = {}) =>
  send(`${base}/v1/stream/${name}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...(key ? auth(key) : {}), ...headers }, body });
const del = (base: string, key: string, name: string) => send(`${base}/v1/stream/${name}`, { method: 'DELETE', headers: auth(key) });
const text = async (base: string, key: string, name: string) => {
  const res = await fetch(`${base}/v1/stream/${name}?offset=-1`, { headers: auth(key) });
  expect(res.status).toBe(200);
  return res.text();
};

function quotaSuite(engine: string, start: () => Promise<Setup>): void {
  describe(`#14.2 Durable Streams quotas (${engine})`, () => {
    let s: Setup;
    let edge: string;

    beforeAll(async () => {
      s = await start();
      edge = s.limited[0] as string;
    }, 60_000);

    afterAll(async () => {
      await s?.stop();
    });

    it('#14.2 a key at its count limit is refused (507 quota_exceeded, naming the limit) and another key is not', async () => {
      for (let i = 0; i < MAX_STREAMS; i++) expect((await put(edge, 'alice', `s${i}`, 'x')).status).toBe(201);
      const refused = await put(edge, 'alice', 'one-more', 'x');
      expect(refused.status).toBe(507);
      expect(refused.code).toBe('quota_exceeded');
      expect(refused.message).toContain('DURABLE_STREAMS_MAX_PER_KEY');
      expect(refused.message).toContain(String(MAX_STREAMS));
      // Nothing was created, what was stored is intact, and a retried PUT of a stream it has is still a 200.
      expect((await send(`${edge}/v1/stream/one-more`, { method: 'HEAD', headers: auth('alice') })).status).toBe(404);
      expect(await text(edge, 'alice', 's0')).toBe('x');
      expect((await put(edge, 'alice', 's1', 'x')).status).toBe(200);
      // Another key is not held back by alice's streams, even at the same names.
      for (let i = 0; i < MAX_STREAMS; i++) expect((await put(edge, 'bob', `s${i}`)).status).toBe(201);
    });

    it('#14.2 a burst of concurrent creates over the limit admits exactly the limit', async () => {
      const burst = await Promise.all(Array.from({ length: 24 }, (_, i) => put(s.limited[i % s.limited.length] as string, 'carol', `burst-${i}`, 'y')));
      expect(burst.filter((a) => a.status === 201)).toHaveLength(MAX_STREAMS);
      expect(burst.filter((a) => a.status === 507 && a.code === 'quota_exceeded')).toHaveLength(24 - MAX_STREAMS);
      // And it stays exact: the next one is refused too.
      expect((await put(edge, 'carol', 'after-burst')).status).toBe(507);
    });

    it('#14.2 the bytes limit refuses the append that would cross it, keeps earlier data readable, and answers retries as usual', async () => {
      expect((await put(edge, 'dave', 'b', 'a'.repeat(600))).status).toBe(201);
      expect((await post(edge, 'dave', 'b', 'b'.repeat(300), { 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': '0' })).status).toBe(200);
      const refused = await post(edge, 'dave', 'b', 'c'.repeat(101));
      expect(refused.status).toBe(507);
      expect(refused.code).toBe('quota_exceeded');
      expect(refused.message).toContain('DURABLE_STREAMS_MAX_BYTES_PER_KEY');
      expect(await text(edge, 'dave', 'b')).toBe('a'.repeat(600) + 'b'.repeat(300));
      // A producer's retry of a write it already made is a duplicate, not a refusal.
      expect((await post(edge, 'dave', 'b', 'b'.repeat(300), { 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': '0' })).status).toBe(204);
      // A PUT whose body does not fit is refused and creates nothing; up to the limit exactly fits.
      expect((await put(edge, 'dave', 'other', 'd'.repeat(101))).status).toBe(507);
      expect((await send(`${edge}/v1/stream/other`, { method: 'HEAD', headers: auth('dave') })).status).toBe(404);
      expect((await post(edge, 'dave', 'b', 'c'.repeat(100))).status).toBe(204);
      expect((await post(edge, 'dave', 'b', 'e')).status).toBe(507);
      expect(await text(edge, 'dave', 'b')).toBe('a'.repeat(600) + 'b'.repeat(300) + 'c'.repeat(100));
      // A fork counts the entries it copies.
      expect((await put(edge, 'dave', 'fork', undefined, { 'stream-forked-from': '/v1/stream/b' })).status).toBe(507);
    });

    it('#14.2 deleting a stream frees its count and its bytes', async () => {
      for (let i = 0; i < MAX_STREAMS; i++) expect((await put(edge, 'erin', `d${i}`, 'z'.repeat(300))).status).toBe(201);
      expect((await put(edge, 'erin', 'd3')).status).toBe(507);
      expect((await post(edge, 'erin', 'd0', 'z'.repeat(101))).status).toBe(507);
      expect((await del(edge, 'erin', 'd1')).status).toBe(204);
      expect((await put(edge, 'erin', 'd3', 'z'.repeat(300))).status).toBe(201);
      expect((await del(edge, 'erin', 'd2')).status).toBe(204);
      expect((await post(edge, 'erin', 'd0', 'z'.repeat(400))).status).toBe(204);
    });

    it('#14.2 a stream deleted while its forks live counts until the last fork goes, then both give their share back', async () => {
      expect((await put(edge, 'hugo', 'src', 'x'.repeat(400))).status).toBe(201);
      expect((await put(edge, 'hugo', 'fork', undefined, { 'stream-forked-from': '/v1/stream/src' })).status).toBe(201);
      expect((await del(edge, 'hugo', 'src')).status).toBe(204);
      // The source keeps its entries for its fork: 2 streams, 800 bytes.
      expect((await put(edge, 'hugo', 'third')).status).toBe(201);
      expect((await put(edge, 'hugo', 'fourth')).status).toBe(507);
      expect((await post(edge, 'hugo', 'third', 'y'.repeat(201))).status).toBe(507);
      expect((await del(edge, 'hugo', 'fork')).status).toBe(204);
      expect((await put(edge, 'hugo', 'fourth', 'y'.repeat(500))).status).toBe(201);
      expect((await put(edge, 'hugo', 'fifth', 'y'.repeat(500))).status).toBe(201);
    });

    it('#14.2 an expired stream gives its quota back', async () => {
      for (let i = 0; i < MAX_STREAMS; i++) expect((await put(edge, 'frank', `t${i}`, 'x'.repeat(300), { 'stream-ttl': '1' })).status).toBe(201);
      expect((await put(edge, 'frank', 'late')).status).toBe(507);
      await new Promise((r) => setTimeout(r, 2_200));
      for (let i = 0; i < MAX_STREAMS; i++) expect((await put(edge, 'frank', `u${i}`, 'x'.repeat(300))).status).toBe(201);
    });

    it('#14.2 0 means unlimited, and streams created without an API key are not counted', async () => {
      // The same writes that the limited edge refuses (the control) …
      expect((await put(edge, 'gina', 'control', 'x'.repeat(MAX_BYTES))).status).toBe(201);
      expect((await post(edge, 'gina', 'control', 'x')).status).toBe(507);
      // … pass where both limits are 0, and where there are no keys.
      for (let i = 0; i < MAX_STREAMS + 3; i++) expect((await put(s.unlimited, 'gina', `n${i}`, 'x'.repeat(MAX_BYTES))).status).toBe(201);
      expect((await post(s.unlimited, 'gina', 'n0', 'x'.repeat(MAX_BYTES))).status).toBe(204);
      expect((await put(s.unlimited, 'gina', 'many', 'x'.repeat(MAX_BYTES))).status).toBe(201);
      for (let i = 0; i < MAX_STREAMS + 3; i++) expect((await put(s.anonymous, null, `anon${i}`, 'x'.repeat(MAX_BYTES))).status).toBe(201);
      expect((await post(s.anonymous, null, 'anon0', 'x'.repeat(MAX_BYTES))).status).toBe(204);
    });
  });
}

quotaSuite('memory', async () => {
  const procs = await Promise.all([
    startEmbedded(LIMITS),
    startEmbedded({ ...LIMITS, DURABLE_STREAMS_MAX_PER_KEY: '0', DURABLE_STREAMS_MAX_BYTES_PER_KEY: '0' }),
    startEmbedded({ ...LIMITS, API_KEYS: '' }),
  ]);
  return setup(procs, 1, async () => {});
});

let redis: RedisServer;
quotaSuite('redis', async () => {
  redis = await startRedisServer();
  const env = { ...LIMITS, REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'quota' };
  const procs = await Promise.all([
    startEdge(env),
    startEdge(env),
    startEdge({ ...env, DURABLE_STREAMS_MAX_PER_KEY: '0', DURABLE_STREAMS_MAX_BYTES_PER_KEY: '0' }),
    startEdge({ ...env, API_KEYS: '' }),
  ]);
  return setup(procs, 2, () => redis.stop());
});

let cluster: TestRedisCluster;
quotaSuite('redis cluster', async () => {
  cluster = await startRedisCluster(3);
  const env = { ...LIMITS, ...cluster.env, TOKENCAST_KEY_PREFIX: 'quota' };
  const procs = await Promise.all([
    startEdge(env),
    startEdge(env),
    startEdge({ ...env, DURABLE_STREAMS_MAX_PER_KEY: '0', DURABLE_STREAMS_MAX_BYTES_PER_KEY: '0' }),
    startEdge({ ...env, API_KEYS: '' }),
  ]);
  return setup(procs, 2, () => cluster.stop());
});

function setup(procs: Proc[], limited: number, stopStore: () => Promise<void>): Setup {
  const urls = procs.map((p) => p.url);
  return {
    limited: urls.slice(0, limited),
    unlimited: urls[limited] as string,
    anonymous: urls[limited + 1] as string,
    async stop() {
      await Promise.all(procs.map((p) => p.kill('SIGTERM')));
      await stopStore();
    },
  };
}
