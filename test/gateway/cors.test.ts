import { buildEdge, type Edge, edgeConfigFromEnv } from '@tokencast/edge';
import { createMemoryEngine } from '@tokencast/engine';
import { createLogger, routingConfig } from '@tokencast/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** CORS is configurable: listed origins get the headers (and preflights an answer), others get none. */
describe('CORS', () => {
  let edge: Edge;

  beforeAll(async () => {
    const env = { CORS_ORIGINS: 'https://app.example', LOG_LEVEL: 'silent' };
    edge = await buildEdge({ engine: createMemoryEngine(), routing: routingConfig(env), config: edgeConfigFromEnv(env), logger: createLogger('test', 'silent') });
  });

  afterAll(async () => {
    await edge?.app.close();
  });

  it('answers a preflight from an allowed origin', async () => {
    const res = await edge.app.inject({
      method: 'OPTIONS',
      url: '/v1/chat/completions',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(String(res.headers['access-control-allow-headers'])).toContain('authorization');
    expect(String(res.headers['access-control-allow-headers'])).toContain('last-event-id');
    expect(String(res.headers['access-control-allow-methods'])).toContain('DELETE');
  });

  it('exposes X-Generation-Id to an allowed origin', async () => {
    const res = await edge.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: { origin: 'https://app.example', 'content-type': 'application/json' },
      payload: { model: 'mock', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(res.statusCode).toBe(202);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(String(res.headers['access-control-expose-headers'])).toContain('x-generation-id');
  });

  it('gives a foreign origin no CORS headers', async () => {
    const res = await edge.app.inject({ method: 'GET', url: '/v1/models', headers: { origin: 'https://evil.example' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await edge.app.inject({ method: 'OPTIONS', url: '/v1/models', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('#14.6 Durable Streams follow CORS_ORIGINS like every route: the protocol’s headers for a listed origin, nothing for another, never "*"', async () => {
    const pre = await edge.app.inject({
      method: 'OPTIONS',
      url: '/v1/stream/cors-s',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type, stream-ttl, producer-id' },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(String(pre.headers['access-control-allow-methods'])).toContain('PUT');
    expect(String(pre.headers['access-control-allow-headers'])).toContain('stream-ttl');
    expect(String(pre.headers['access-control-allow-headers'])).toContain('producer-id');
    const put = await edge.app.inject({ method: 'PUT', url: '/v1/stream/cors-s', headers: { origin: 'https://app.example', 'content-type': 'text/plain' } });
    expect(put.statusCode).toBe(201);
    expect(put.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(String(put.headers['access-control-expose-headers'])).toContain('stream-next-offset');
    for (const method of ['GET', 'HEAD', 'OPTIONS'] as const) {
      const foreign = await edge.app.inject({ method, url: '/v1/stream/cors-s', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
      expect(foreign.headers['access-control-allow-origin'], method).toBeUndefined();
    }
    // An edge without CORS_ORIGINS sends no CORS headers on streams either.
    const env = { LOG_LEVEL: 'silent' };
    const closed = await buildEdge({ engine: createMemoryEngine(), routing: routingConfig(env), config: edgeConfigFromEnv(env), logger: createLogger('test', 'silent') });
    try {
      const r = await closed.app.inject({ method: 'PUT', url: '/v1/stream/x', headers: { origin: 'https://evil.example' } });
      expect(r.statusCode).toBe(201);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await closed.app.close();
    }
  });

  it('#14.6 Location is built from validated values only: a forwarded proto or host that is not a valid one never reaches it', async () => {
    const env = { LOG_LEVEL: 'silent', TRUST_PROXY: 'true' };
    const proxied = await buildEdge({ engine: createMemoryEngine(), routing: routingConfig(env), config: edgeConfigFromEnv(env), logger: createLogger('test', 'silent') });
    try {
      const put = (name: string, headers: Record<string, string>) =>
        proxied.app.inject({ method: 'PUT', url: `/v1/stream/${name}`, headers: { host: 'edge.internal:8080', ...headers } });
      const good = await put('a', { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' });
      expect(good.headers.location).toBe('https://api.example.com/v1/stream/a');
      const hostile = [
        { 'x-forwarded-proto': 'javascript', 'x-forwarded-host': 'alert(1)//x' },
        { 'x-forwarded-proto': 'javascript:alert(1)//', 'x-forwarded-host': 'api.example.com' },
        { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example/"><script>' },
        { 'x-forwarded-proto': 'data', 'x-forwarded-host': 'a b' },
        { 'x-forwarded-host': 'user@evil.example' },
      ];
      for (const [i, headers] of hostile.entries()) {
        const res = await put(`h${i}`, headers);
        expect(res.statusCode).toBe(201);
        const location = String(res.headers.location);
        const url = new URL(location);
        expect(['http:', 'https:'], location).toContain(url.protocol);
        expect(url.pathname).toBe(`/v1/stream/h${i}`);
        expect(location).not.toMatch(/javascript|script|alert|evil|@|\s/);
      }
    } finally {
      await proxied.app.close();
    }
  });
});
