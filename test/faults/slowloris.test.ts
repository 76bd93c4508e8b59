import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { readSse } from '../support/sse.js';

/**
 * Slow and idle attackers: slow headers and slow bodies are cut by the configured timeouts, and
 * while a thousand of them hang on, a normal client still streams.
 */
describe('slowloris', () => {
  let edge: Proc;

  beforeAll(async () => {
    edge = await startEmbedded({ HEADERS_TIMEOUT_MS: '1500', REQUEST_TIMEOUT_MS: '3000', LOG_LEVEL: 'warn' });
  });

  afterAll(async () => {
    await edge?.kill();
  });

  function slowClient(body: boolean): Promise<{ socket: Socket; closed: Promise<number> }> {
    return new Promise((resolve, reject) => {
      const opened = Date.now();
      const socket = connect(edge.port, '127.0.0.1', () => {
        // Never finishes: either the head (slow headers) or the announced body (slow body).
        socket.write(
          body
            ? 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"mo'
            : 'GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ',
        );
        const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - opened)));
        resolve({ socket, closed });
      });
      socket.on('error', () => {});
      socket.once('error', reject);
      socket.resume(); // read what the edge answers (its 408), or 'close' would never fire
    });
  }

  it('cuts slow headers after HEADERS_TIMEOUT_MS and slow bodies after REQUEST_TIMEOUT_MS', async () => {
    const heads = await Promise.all(Array.from({ length: 500 }, () => slowClient(false)));
    const bodies = await Promise.all(Array.from({ length: 500 }, () => slowClient(true)));
    // Meanwhile a normal client streams a whole generation.
    const started = Date.now();
    const res = await fetch(`${edge.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', max_tokens: 40, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const { id } = (await res.json()) as { id: string };
    const read = await readSse(`${edge.url}/v1/generations/${id}/events`);
    expect(read.done).toBe(true);
    expect(read.ids.length).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(10_000);

    const headTimes = await Promise.all(heads.map((h) => h.closed));
    const bodyTimes = await Promise.all(bodies.map((b) => b.closed));
    const max = (xs: number[]) => Math.max(...xs);
    console.log(`slow headers cut after ≤ ${max(headTimes)} ms; slow bodies after ≤ ${max(bodyTimes)} ms`);
    // Cut around their timeouts (+ the 1 s checking interval and a loaded machine's slack).
    expect(max(headTimes)).toBeLessThan(1500 + 5_000);
    expect(Math.min(...bodyTimes)).toBeGreaterThanOrEqual(1_400);
    expect(max(bodyTimes)).toBeLessThan(3000 + 5_000);
    expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
  }, 30_000);
});
