import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { expect } from 'vitest';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/**
 * Shared pieces of the gateway suites: a real Redis with edges and producers as processes, JSON
 * helpers that keep the status and headers, the OpenAI error-shape check, and a fake upstream.
 */

export interface Cluster {
  redis: RedisServer;
  prefix: string;
  /** Environment every process of this cluster shares (REDIS_URL, key prefix). */
  env: Record<string, string>;
  procs: Proc[];
  edge(env?: Record<string, string>): Promise<Proc>;
  producer(env?: Record<string, string>): Promise<Proc>;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<Cluster> {
  const redis = await startRedisServer();
  const prefix = `gw${Math.random().toString(36).slice(2, 8)}`;
  const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: prefix };
  const procs: Proc[] = [];
  return {
    redis,
    prefix,
    env,
    procs,
    async edge(extra = {}) {
      const p = await startEdge({ ...env, ...extra });
      procs.push(p);
      return p;
    },
    async producer(extra = {}) {
      const p = await startProducer({ ...env, ...extra });
      procs.push(p);
      return p;
    },
    async stop() {
      await Promise.all(procs.map((p) => p.kill()));
      await redis.stop();
    },
  };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary JSON
  body: any;
  text: string;
}

export async function call(url: string, init: RequestInit & { json?: unknown; key?: string } = {}): Promise<JsonResponse> {
  const headers = new Headers(init.headers);
  if (init.key !== undefined) headers.set('authorization', `Bearer ${init.key}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url, { ...init, headers, body, method: init.method ?? (body === undefined ? 'GET' : 'POST') });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** A chat body for the mock with a given natural length. */
export function chat(len: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'mock', messages: [{ role: 'user', content: `hello ${Math.random()} [mock:len=${len}]` }], ...extra };
}

/** Exactly the OpenAI error shape: {error:{message,type,param,code}} and nothing else. */
export function isOpenAiError(body: unknown): boolean {
  if (!body || typeof body !== 'object') return false;
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'error') return false;
  const e = (body as { error: unknown }).error;
  if (!e || typeof e !== 'object') return false;
  const { message, type, param, code } = e as Record<string, unknown>;
  return (
    Object.keys(e).sort().join(',') === 'code,message,param,type' &&
    typeof message === 'string' &&
    message.length > 0 &&
    typeof type === 'string' &&
    (param === null || typeof param === 'string') &&
    (code === null || typeof code === 'string')
  );
}

export function expectError(res: JsonResponse, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.error?.code }, res.text).toEqual({ status, code });
  expect(isOpenAiError(res.body), res.text).toBe(true);
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
}

/** A well-formed generation id nobody created. */
export function unknownId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let s = 'gen_';
  for (let i = 0; i < 26; i++) s += alphabet[Math.floor(Math.random() * 32)];
  return s;
}

/** Resident set size of a process, bytes, from /proc. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** One request the fake upstream received, and how it ended. */
export interface UpstreamCall {
  body: Record<string, unknown>;
  startedAt: number;
  /** performance.now() when the connection closed; null while open. */
  closedAt: number | null;
  /** Closed before the fake finished its answer: the caller went away. */
  aborted: boolean;
  chunksSent: number;
}

export interface FakeUpstream {
  url: string;
  calls: UpstreamCall[];
  close(): Promise<void>;
}

/**
 * An OpenAI-compatible upstream that streams one "x" per chunk every `intervalMs`. A prompt with
 * `[n=K]` ends after K chunks with finish_reason "stop"; otherwise it streams for `maxMs`.
 */
export async function startFakeUpstream(opts: { intervalMs?: number; maxMs?: number } = {}): Promise<FakeUpstream> {
  const intervalMs = opts.intervalMs ?? 20;
  const maxMs = opts.maxMs ?? 60_000;
  const calls: UpstreamCall[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => {
      raw += d.toString();
    });
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      const call: UpstreamCall = { body, startedAt: performance.now(), closedAt: null, aborted: false, chunksSent: 0 };
      calls.push(call);
      const prompt = JSON.stringify(body.messages ?? body.prompt ?? '');
      const n = /\[n=(\d+)\]/.exec(prompt);
      const limit = n ? Number(n[1]) : Math.ceil(maxMs / intervalMs);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      const chunk = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
      const timer = setInterval(() => {
        if (call.chunksSent >= limit) {
          clearInterval(timer);
          chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
          res.end('data: [DONE]\n\n');
          return;
        }
        call.chunksSent++;
        chunk({ choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }] });
      }, intervalMs);
      res.on('close', () => {
        clearInterval(timer);
        call.closedAt = performance.now();
        call.aborted = !res.writableFinished;
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
