import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildEdge, type Edge, edgeConfigFromEnv } from '@tokencast/edge';
import { createMemoryEngine, type Engine, type GenerationStore } from '@tokencast/engine';
import { createLogger, routingConfig } from '@tokencast/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeGeneration } from '../support/store-writes.js';

/**
 * Issue #15.3: every viewer (SSE, WebSocket, the Durable Streams generation views) goes through
 * one attach sequence (acquire the channel, check access, take a stream slot, open the sink),
 * and whatever fails on the way gives back what was taken. Before it, the generation view's
 * SSE and long-poll kept the slot of a client that left while the store answered (until
 * DURABLE_STREAMS_SSE_MAX_MS or the long-poll timeout), and a long-poll refused by the stream
 * limit kept its channel forever. Memory engine, no producer: generations are written straight
 * to the store; the store's getMeta can be held to let a client leave in the middle of an attach.
 */
const KEY = 'sk-alice-0123456789abcdef0123456789abcdef';
const auth = { authorization: `Bearer ${KEY}` };

let engine: Engine;
let edge: Edge;
let url: string;

/** getMeta of this generation waits until `open()` is called; `entered` resolves when it is asked. */
let gate: { id: string; entered: () => void; wait: Promise<void> } | null = null;

function holdGetMeta(id: string): { entered: Promise<void>; open: () => void } {
  let entered!: () => void;
  let open!: () => void;
  const enteredP = new Promise<void>((r) => {
    entered = r;
  });
  const wait = new Promise<void>((r) => {
    open = r;
  });
  gate = { id, entered, wait };
  return {
    entered: enteredP,
    open: () => {
      gate = null;
      open();
    },
  };
}

function gatedStore(store: GenerationStore): GenerationStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'getMeta') {
        return async (id: string) => {
          const g = gate;
          if (g && g.id === id) {
            g.entered();
            await g.wait;
          }
          return target.getMeta(id);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

beforeAll(async () => {
  const memory = createMemoryEngine();
  engine = { ...memory, store: gatedStore(memory.store) };
  const env = { LOG_LEVEL: 'silent', API_KEYS: `alice:${KEY}`, MAX_STREAMS_PER_KEY: '2', EDGE_CHANNEL_LINGER_MS: '50', HOST: '127.0.0.1', PORT: '0' };
  edge = await buildEdge({ engine, routing: routingConfig(env), config: edgeConfigFromEnv(env), logger: createLogger('attach-test', 'silent') });
  await edge.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(edge.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await edge?.app.close();
  await engine?.close();
});

/** A running generation of alice's with three token events, written straight to the store. */
function running(): Promise<string> {
  return writeGeneration(
    engine,
    [1, 2, 3].map((i) => ({ kind: 'token' as const, text: `t${i} `, tokens: 1, ms: [i] })),
    'alice',
  );
}

/** A streaming response kept open (read in the background) until close(); its status. */
async function hold(path: string): Promise<{ status: number; close: () => void }> {
  const ac = new AbortController();
  const res = await fetch(`${url}${path}`, { headers: auth, signal: ac.signal });
  if (res.status === 200) {
    void (async () => {
      try {
        for await (const _ of res.body as unknown as AsyncIterable<Uint8Array>);
      } catch {}
    })();
  } else await res.text();
  return { status: res.status, close: () => ac.abort() };
}

async function until(what: string, fn: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The key's full count of streams is admitted, and one more is refused (the limit is on). */
async function expectFullCount(): Promise<void> {
  const gen = await running();
  const held = [await hold(`/v1/generations/${gen}/events`), await hold(`/v1/generations/${gen}/events`), await hold(`/v1/generations/${gen}/events`)];
  try {
    expect(held.map((h) => h.status)).toEqual([200, 200, 429]);
  } finally {
    for (const h of held) h.close();
    await until('every viewer gone', () => edge.hub.sinkCount === 0);
  }
}

const viewers = {
  'SSE (/v1/generations/:id/events)': (id: string) => `/v1/generations/${id}/events`,
  'generation view, live=sse': (id: string) => `/v1/stream/generations/${id}?offset=-1&live=sse`,
  'generation view, long-poll': (id: string) => `/v1/stream/generations/${id}?offset=now&live=long-poll`,
};

describe('#15.3 one viewer-attach sequence', () => {
  it.each(Object.entries(viewers))('#15.3 a viewer whose attach fails releases its stream slot: %s, client gone while the store answered', async (_name, path) => {
    const gen = await running();
    const held = holdGetMeta(gen);
    const req = http.request(`${url}${path(gen)}`, { headers: auth, agent: false });
    req.on('error', () => {});
    req.end();
    await held.entered;
    // The client leaves while its attach waits for the store; the edge sees the close first.
    req.destroy();
    await sleep(200);
    held.open();
    await sleep(200);
    await expectFullCount();
    // And nothing is held on the generation either: its channel lingers away.
    await until('every channel released', () => edge.hub.channelCount === 0, 3_000);
  });

  it('#15.3 a viewer whose attach fails releases its stream slot: a long-poll refused by the stream limit gives its channel back', async () => {
    const busy = await running();
    const held = [await hold(`/v1/generations/${busy}/events`), await hold(`/v1/generations/${busy}/events`)];
    expect(held.map((h) => h.status)).toEqual([200, 200]);
    const gen = await running();
    const refused = await fetch(`${url}/v1/stream/generations/${gen}?offset=now&live=long-poll`, { headers: auth });
    expect(refused.status).toBe(429);
    const sse = await fetch(`${url}/v1/stream/generations/${gen}?offset=now&live=sse`, { headers: auth });
    expect(sse.status).toBe(429);
    for (const h of held) h.close();
    await until('every viewer gone', () => edge.hub.sinkCount === 0);
    // Both refused generation channels linger away like any unwatched one (EDGE_CHANNEL_LINGER_MS).
    await until('every channel released', () => edge.hub.channelCount === 0 && edge.hub.followed === 0, 3_000);
    await expectFullCount();
  });
});
