import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildEdge, type Edge, edgeConfigFromEnv } from '@tokencast/edge';
import { createMemoryEngine, type Engine } from '@tokencast/engine';
import { emptyUsage } from '@tokencast/protocol';
import { createLogger, routingConfig } from '@tokencast/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeGeneration } from '../support/store-writes.js';

/**
 * PITFALLS "`res.write()` returning false is the backpressure signal", at the very end: a viewer
 * that stops reading gets the terminal event in the same write as the bytes its socket cannot
 * take. The response is ended, but its unflushed tail stays in the edge's memory until the socket
 * drains, which for a client that never reads is never: the stall limit must apply to those last
 * bytes too. (Found as a flaky stalled-reader test: whether the end landed in the overflowing
 * write depended on the kernel's socket buffers.)
 */
const STALL_MS = 1_000;
const EVENTS = 40;
const EVENT_BYTES = 256 * 1024; // 10 MB in one catch-up batch: far more than loopback buffers take

let engine: Engine;
let edge: Edge;
let port: number;

beforeAll(async () => {
  engine = createMemoryEngine();
  const env = { LOG_LEVEL: 'silent', STALL_TIMEOUT_MS: String(STALL_MS), EDGE_CHANNEL_LINGER_MS: '0', HOST: '127.0.0.1', PORT: '0' };
  edge = await buildEdge({ engine, routing: routingConfig(env), config: edgeConfigFromEnv(env), logger: createLogger('stalled-end', 'silent') });
  await edge.app.listen({ port: 0, host: '127.0.0.1' });
  port = (edge.app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await edge?.app.close();
  await engine?.close();
});

/** A completed generation of EVENTS large text events and its end, written straight to the store. */
function completedBig(): Promise<string> {
  const text = 'x'.repeat(EVENT_BYTES);
  return writeGeneration(engine, [
    ...Array.from({ length: EVENTS }, (_, i) => ({ kind: 'token' as const, text, tokens: 1, ms: [i] })),
    { kind: 'end' as const, status: 'completed' as const, finishReason: 'stop' as const, usage: emptyUsage(), error: null, ms: EVENTS },
  ]);
}

describe('a viewer that stops reading before the end', () => {
  it('is cut after STALL_TIMEOUT_MS even when the terminal event went out in the write its socket could not take', async () => {
    const id = await completedBig();
    const sockets: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      sockets.push(
        await new Promise<Socket>((resolve) => {
          const s = connect(port, '127.0.0.1', () => {
            s.write(`GET /v1/generations/${id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
            s.pause(); // never reads a byte
            resolve(s);
          });
          s.on('error', () => {});
        }),
      );
    }
    const t0 = Date.now();
    // The whole generation fits in one catch-up batch, so each viewer's one write carries the end.
    while (edge.hub.sinkCount < 3 && Date.now() - t0 < 5_000) await sleep(10);
    expect(edge.hub.sinkCount).toBe(3);
    while (edge.hub.sinkCount > 0 && Date.now() - t0 < STALL_MS + 5_000) await sleep(50);
    expect(edge.hub.sinkCount).toBe(0);
    expect(Date.now() - t0).toBeLessThan(STALL_MS + 5_000);
    // Nothing keeps the tails: the edge destroyed the connections (the clients, paused, have not
    // noticed yet).
    const open = await new Promise<number>((resolve) => edge.app.server.getConnections((_e, n) => resolve(n)));
    expect(open).toBe(0);
    for (const s of sockets) s.destroy();
  });
});
