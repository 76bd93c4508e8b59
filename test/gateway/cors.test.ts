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
});
