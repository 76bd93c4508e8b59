import { mockText } from '@tokencast/producer';
import { type GenerationRequest, parseChatRequest } from '@tokencast/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keys } from '../../packages/engine/src/index.js';
import { keySlot } from '../../packages/engine/src/redis/cluster-tail.js';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';
import { readSse, type SseRead } from '../support/sse.js';

/**
 * A real edge process and a real producer process (from the build) on a 3-master Redis Cluster:
 * generations whose keys sit on every master stream at the same time, each with exactly the
 * mock's reference text.
 */
const PREFIX = 'tce2e';
const LIMITS = { maxTokensCap: 32_768, maxPromptChars: 200_000 };

let cluster: TestRedisCluster;
let edge: Proc | null = null;
let producer: Proc | null = null;
let env: Record<string, string>;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  env = { ...cluster.env, TOKENCAST_KEY_PREFIX: PREFIX, MOCK_TOKENS_PER_SECOND: '150', PRODUCER_CONCURRENCY: '32', RECLAIM_IDLE_MS: '5000' };
  edge = await startEdge(env);
}, 60_000);

afterAll(async () => {
  await producer?.kill();
  await edge?.kill();
  await cluster?.stop();
});

function chatBody(i: number) {
  return { model: 'mock', stream: true, messages: [{ role: 'user', content: `cluster story ${i} [mock:len=${30 + i * 3}]` }] };
}

function expected(body: unknown): GenerationRequest {
  return parseChatRequest(body, LIMITS);
}

describe('edge + producer on a Redis Cluster', () => {
  it('the edge reports ready on the cluster', async () => {
    const res = await fetch(`${(edge as Proc).url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ engine: 'redis' });
  });

  it('streams many generations at once, their keys on every master, each with the exact text', async () => {
    const url = (edge as Proc).url;
    const keys = new Keys(PREFIX);
    // Queue generations (no producer yet) until every master holds at least two of them.
    const gens: { id: string; body: ReturnType<typeof chatBody>; master: number }[] = [];
    const perMaster = new Map<number, number>(cluster.ports.map((p) => [p, 0]));
    for (let i = 0; [...perMaster.values()].some((k) => k < 2); i++) {
      expect(i, 'ids never landed on every master').toBeLessThan(60);
      const body = chatBody(i);
      const res = await fetch(`${url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      // Both keys of a generation share its slot, and that slot is served by one master.
      const slot = await cluster.keySlot(keys.events(id));
      expect(await cluster.keySlot(keys.meta(id))).toBe(slot);
      expect(keySlot(keys.events(id))).toBe(slot);
      const master = await cluster.masterOf(keys.events(id));
      expect(await cluster.node(master).exists(keys.meta(id))).toBe(1);
      perMaster.set(master, (perMaster.get(master) ?? 0) + 1);
      gens.push({ id, body, master });
    }
    expect(new Set(gens.map((g) => g.master)).size).toBe(3);

    // Two viewers per generation, all connected before any token exists: everything they get
    // comes through the edge's cluster tail.
    const viewers: { id: string; body: ReturnType<typeof chatBody>; read: Promise<SseRead> }[] = [];
    for (const g of gens) for (let v = 0; v < 2; v++) viewers.push({ ...g, read: readSse(`${url}/v1/generations/${g.id}/events`) });
    // And chat completions streamed directly by the POST, created while the others run.
    const direct = [100, 101, 102].map((i) => {
      const body = chatBody(i);
      return { body, read: readSse(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) };
    });
    await new Promise((r) => setTimeout(r, 500));

    producer = await startProducer(env);

    for (const v of viewers) {
      const got = await v.read;
      const want = mockText(expected(v.body));
      expect(got.status, v.id).toBe(200);
      expect(got.done, v.id).toBe(true);
      expect(got.text, v.id).toBe(want.text);
      // Offsets dense from 1, no duplicate: the tokens then the end.
      expect(got.ids, v.id).toEqual(Array.from({ length: got.ids.length }, (_, i) => i + 1));
      expect(got.ids.length).toBeGreaterThanOrEqual(2);
    }
    for (const d of direct) {
      const got = await d.read;
      expect(got.status).toBe(200);
      expect(got.done).toBe(true);
      expect(got.text).toBe(mockText(expected(d.body)).text);
      const id = got.headers.get('x-generation-id') as string;
      expect(keySlot(keys.events(id))).toBe(await cluster.keySlot(keys.events(id)));
    }
    for (const g of gens) {
      const meta = (await (await fetch(`${url}/v1/generations/${g.id}`)).json()) as { status: string };
      expect(meta.status).toBe('completed');
    }
  });

  it('replays a finished generation from any offset on the cluster', async () => {
    const url = (edge as Proc).url;
    const body = chatBody(7);
    const first = await readSse(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const id = first.headers.get('x-generation-id') as string;
    expect(first.text).toBe(mockText(expected(body)).text);
    const from = 5;
    const rest = await readSse(`${url}/v1/generations/${id}/events`, { headers: { 'last-event-id': String(from) } });
    expect(rest.ids[0]).toBe(from + 1);
    expect(first.ids.slice(from)).toEqual(rest.ids);
    expect(rest.done).toBe(true);
  });
});
