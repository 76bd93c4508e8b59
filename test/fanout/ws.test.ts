import type { AddressInfo } from 'node:net';
import { buildEdge, type Edge, edgeConfigFromEnv } from '@tokencast/edge';
import { createMemoryEngine, type Engine } from '@tokencast/engine';
import { catalogFromEnv, mockText, Worker, workerOptionsFromEnv } from '@tokencast/producer';
import { parseChatRequest } from '@tokencast/protocol';
import { createLogger, routingConfig } from '@tokencast/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { chunkText, readSse } from '../support/sse.js';

interface WsEvent {
  type: 'event';
  gen: string;
  offset: number;
  data: unknown[];
  end: boolean;
}

/** The WebSocket endpoint: many generations over one socket, each from any offset, same payloads as SSE. */
describe('WebSocket fan-out', () => {
  let engine: Engine;
  let worker: Worker;
  let edge: Edge;
  let url: string;
  const env = { MOCK_TTFT_MS: '5', MOCK_TOKENS_PER_SECOND: '5000', LOG_LEVEL: 'silent', STALL_TIMEOUT_MS: '1000', WS_MAX_BUFFERED_BYTES: '4096', HEARTBEAT_MS: '60000' };

  beforeAll(async () => {
    engine = createMemoryEngine();
    const catalog = catalogFromEnv(env);
    const logger = createLogger('test', 'silent');
    worker = new Worker(engine, catalog, logger, workerOptionsFromEnv(env));
    worker.start();
    edge = await buildEdge({ engine, routing: routingConfig(env), config: edgeConfigFromEnv({ ...env, HOST: '127.0.0.1' }), logger });
    await edge.app.listen({ port: 0, host: '127.0.0.1' });
    url = `127.0.0.1:${(edge.app.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await edge?.app.close();
    await worker?.stop(0);
    await engine?.close();
  });

  const body = (prompt: string, maxTokens: number | null) => ({ model: 'mock', max_tokens: maxTokens, messages: [{ role: 'user', content: prompt }] });
  const submit = async (prompt: string, maxTokens: number | null) => {
    const res = await fetch(`http://${url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(prompt, maxTokens)) });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  const reference = (prompt: string, maxTokens: number | null) => mockText(parseChatRequest(body(prompt, maxTokens), { maxTokensCap: 1e6, maxPromptChars: 1e6 })).text;

  function open(): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${url}/v1/ws`);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  }

  /** Collect events per generation until each one has ended, or `stopAfter` events of `gen` arrived. */
  function collect(ws: WebSocket, gens: string[], stopAfter?: { gen: string; n: number }): Promise<Map<string, WsEvent[]>> {
    const out = new Map<string, WsEvent[]>(gens.map((g) => [g, []]));
    const ended = new Set<string>();
    return new Promise((resolve) => {
      ws.on('message', (raw) => {
        const msg = JSON.parse(String(raw)) as WsEvent;
        if (msg.type !== 'event') return;
        out.get(msg.gen)?.push(msg);
        if (msg.end) ended.add(msg.gen);
        if (stopAfter && msg.gen === stopAfter.gen && (out.get(msg.gen)?.length ?? 0) >= stopAfter.n) resolve(out);
        if (ended.size === gens.length) resolve(out);
      });
    });
  }

  const textOf = (evs: WsEvent[]) => evs.flatMap((e) => e.data.map((d) => chunkText(JSON.stringify(d)))).join('');

  it('streams several generations over one socket, each from its own offset, with SSE’s payloads', async () => {
    const prompts = ['alpha [mock:len=300]', 'beta [mock:len=300]', 'gamma [mock:len=300]'];
    const ids = await Promise.all(prompts.map((p) => submit(p, 120)));
    const ws = await open();
    const got = collect(ws, ids);
    ws.send(JSON.stringify({ type: 'subscribe', gen: ids[0], from: 0 }));
    ws.send(JSON.stringify({ type: 'subscribe', gen: ids[1], from: 10 }));
    ws.send(JSON.stringify({ type: 'subscribe', gen: ids[2] }));
    const byGen = await got;
    ws.close();
    for (const [i, id] of ids.entries()) {
      const evs = byGen.get(id) ?? [];
      const from = i === 1 ? 10 : 0;
      expect(evs.map((e) => e.offset)).toEqual(Array.from({ length: evs.length }, (_, k) => from + k + 1));
      expect(evs.at(-1)?.end).toBe(true);
      // Same payloads as SSE: the same text, offset for offset.
      const sse = await readSse(`http://${url}/v1/generations/${id}/events?from=${from}`);
      expect(textOf(evs)).toBe(sse.text);
      if (from === 0) expect(textOf(evs)).toBe(reference(prompts[i] as string, 120));
    }
  });

  it('resumes exactly after a dropped socket by subscribing from the last offset', async () => {
    const prompt = 'delta [mock:len=400]';
    const id = await submit(prompt, 300);
    const first = await open();
    const partP = collect(first, [id], { gen: id, n: 40 });
    first.send(JSON.stringify({ type: 'subscribe', gen: id, from: 0 }));
    const part = await partP;
    first.terminate();
    const seen = part.get(id) ?? [];
    const last = seen.at(-1)?.offset ?? 0;
    const second = await open();
    const rest = collect(second, [id]);
    second.send(JSON.stringify({ type: 'subscribe', gen: id, from: last }));
    const after = (await rest).get(id) ?? [];
    second.close();
    expect(after[0]?.offset).toBe(last + 1);
    const all = [...seen.slice(0, seen.findIndex((e) => e.offset === last) + 1), ...after];
    expect(all.map((e) => e.offset)).toEqual(Array.from({ length: all.length }, (_, k) => k + 1));
    expect(textOf(all)).toBe(reference(prompt, 300));
  });

  it('drops a socket that stops reading (4008) without slowing a reader of the same generation', async () => {
    const prompt = 'epsilon [mock:len=40000]';
    const id = await submit(prompt, null); // the natural length: above MAX_TOKENS_CAP
    const stalled = await open();
    const closed = new Promise<number>((r) => stalled.once('close', (code) => r(code)));
    stalled.send(JSON.stringify({ type: 'subscribe', gen: id, from: 0 }));
    // Stop reading at the TCP level: once the kernel buffers fill, the edge's buffer for this
    // socket passes WS_MAX_BUFFERED_BYTES, the subscription pauses, and after STALL_TIMEOUT_MS
    // the socket is dropped.
    const raw = (stalled as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    const fast = await open();
    const fastDone = collect(fast, [id]);
    fast.send(JSON.stringify({ type: 'subscribe', gen: id, from: 0 }));
    const deadline = Date.now() + 40_000;
    while (edge.hub.sinkCount < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(edge.hub.sinkCount).toBe(2);
    while (edge.hub.sinkCount > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // Only the fast reader is left on the edge while the stalled one still reads nothing.
    expect(edge.hub.sinkCount).toBe(1);
    raw.resume();
    expect([4008, 1006]).toContain(await closed);
    const evs = (await fastDone).get(id) ?? [];
    fast.close();
    expect(evs.at(-1)?.end).toBe(true);
    expect(textOf(evs)).toBe(reference(prompt, null));
  }, 90_000);
});
