import { buildEdge, type Edge, edgeConfigFromEnv } from '@tokencast/edge';
import { createMemoryEngine, type Engine } from '@tokencast/engine';
import { catalogFromEnv, Worker, workerOptionsFromEnv } from '@tokencast/producer';
import { createLogger, routingConfig } from '@tokencast/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { chatBody, meta, offsets, read, reference, sleep, submit, textOf } from './helpers.js';

/**
 * Clients that leave mid-stream must leave nothing behind: after many connects and disconnects
 * the edge's hub holds no sink and, after the linger time, no channel. In-process (so the hub can
 * be inspected) but over a real socket with real fetch clients.
 */
const LINGER_MS = 200;
let engine: Engine;
let edge: Edge;
let worker: Worker;
let base: string;

beforeAll(async () => {
  const env = { EDGE_CHANNEL_LINGER_MS: String(LINGER_MS), HEARTBEAT_MS: '100', MOCK_TOKENS_PER_SECOND: '100', MOCK_TTFT_MS: '20', REDIS_BLOCK_MS: '200', RECLAIM_IDLE_MS: '5000' };
  engine = createMemoryEngine();
  const logger = createLogger('disconnect-test', 'silent');
  const catalog = catalogFromEnv(env);
  edge = await buildEdge({ engine, routing: routingConfig(env), config: edgeConfigFromEnv(env), logger });
  worker = new Worker(engine, catalog, logger, workerOptionsFromEnv(env));
  worker.start();
  base = await edge.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await worker?.stop(0);
  await edge?.app.close();
  await engine?.close();
});

describe('clients that disconnect', () => {
  it('leave no sink and, after the linger time, no channel', async () => {
    const body = chatBody('[mock:len=200] nobody stays');
    const id = await submit(base, body);
    const url = `${base}/v1/generations/${id}/events`;
    const json = { 'content-type': 'application/json' };

    for (let round = 0; round < 3; round++) {
      const clients: Promise<unknown>[] = [];
      // Watchers that leave after a few events, at various offsets (some resuming).
      for (let i = 0; i < 40; i++) clients.push(read(url, { stopAfter: 1 + (i % 5), headers: i % 3 === 0 ? { 'last-event-id': String(i % 4) } : {} }));
      // Watchers that leave before any event: the headers only.
      for (let i = 0; i < 20; i++) {
        const ac = new AbortController();
        clients.push(
          fetch(url, { signal: ac.signal })
            .then(() => ac.abort())
            .catch(() => {}),
        );
      }
      // Streaming completions dropped mid-way, and non-streaming ones given up while they wait.
      for (let i = 0; i < 5; i++) {
        clients.push(
          read(`${base}/v1/chat/completions`, { method: 'POST', headers: json, body: JSON.stringify({ ...chatBody(`[mock:len=300] s${round}${i}`), stream: true }), stopAfter: 2 }),
        );
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 150);
        clients.push(
          fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: json, body: JSON.stringify(chatBody(`[mock:len=300] w${round}${i}`)), signal: ac.signal }).catch(
            () => {},
          ),
        );
      }
      await Promise.all(clients);
      await sleep(50);
    }

    await waitFor('every sink to be gone', () => edge.hub.sinkCount === 0, 5_000);
    await waitFor('every channel to be released', () => edge.hub.channelCount === 0 && edge.hub.followed === 0, LINGER_MS + 5_000);

    // Leaving is not cancelling: the generation still completes, and a new viewer gets all of it.
    await waitFor('completion', async () => (await meta(base, id)).status === 'completed', 10_000);
    const full = await read(url);
    expect(textOf(full.events)).toBe(reference(body).text);
    expect(offsets(full.events)[0]).toBe(1);
    await waitFor('the last channel to be released', () => edge.hub.sinkCount === 0 && edge.hub.channelCount === 0, LINGER_MS + 5_000);
  });
});
