import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { freePort } from '../support/redis.js';
import { readSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';
import { type Cluster, call, chat, startCluster } from './support.js';

/**
 * GET /metrics after real traffic: a standalone edge (viewers, delivery lag, queue gauges) with a
 * producer serving its own metrics on METRICS_PORT (TTFT, generations by status), and an
 * embedded process that serves both sets on one endpoint.
 */
const alice = `sk-alice-${randomBytes(16).toString('hex')}`;
const KEYS = { API_KEYS: `alice:${alice}` };

let cluster: Cluster;
let edge: Proc;
let embedded: Proc;
let producerMetricsUrl: string;
const tokens: string[] = [];

/** Sum of the samples of `name` whose labels include every pair in `labels`; null when none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  let total: number | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? '';
    if (!Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) continue;
    total = (total ?? 0) + Number(m[3]);
  }
  return total;
}

async function traffic(url: string): Promise<void> {
  // Streaming viewers on this edge: the tail delivers live, so delivery lag is observed.
  const runs = [1, 2, 3].map(() =>
    readSse(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify(chat(30, { stream: true })),
    }),
  );
  for (const r of await Promise.all(runs)) expect(r.done).toBe(true);
  const created = await call(`${url}/v1/generations`, { json: chat(10), key: alice });
  tokens.push(created.body.read_token);
  await readSse(`${url}${created.body.events_url}?token=${encodeURIComponent(created.body.read_token)}`);
}

function expectNoSecrets(text: string): void {
  for (const secret of [alice, ...tokens.map((t) => t.split('.')[3] as string)]) expect(text.includes(secret)).toBe(false);
}

beforeAll(async () => {
  cluster = await startCluster();
  const metricsPort = await freePort();
  producerMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  [edge, , embedded] = await Promise.all([cluster.edge(KEYS), cluster.producer({ METRICS_PORT: String(metricsPort) }), startEmbedded(KEYS)]);
});

afterAll(async () => {
  await embedded?.kill();
  await cluster?.stop();
});

describe('GET /metrics', () => {
  it('standalone edge and producer: viewers, delivery lag, queue depth; TTFT and generations by status', async () => {
    await traffic(edge.url);
    // A viewer still attached shows in the gauge.
    const created = await call(`${edge.url}/v1/generations`, { json: chat(100_000), key: alice });
    const ac = new AbortController();
    const open = await fetch(`${edge.url}${created.body.events_url}`, { headers: { authorization: `Bearer ${alice}` }, signal: ac.signal });
    expect(open.status).toBe(200);

    const res = await fetch(`${edge.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(sample(text, 'tokencast_edge_viewers')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'tokencast_delivery_lag_ms_count')).toBeGreaterThan(0);
    expect(sample(text, 'tokencast_queue_waiting')).not.toBeNull();
    expect(sample(text, 'tokencast_queue_pending')).not.toBeNull();
    expectNoSecrets(text);
    ac.abort();
    await call(`${edge.url}/v1/generations/${created.body.id}`, { method: 'DELETE', key: alice });

    const prod = await waitFor('producer metrics with the cancel counted', async () => {
      const t = await (await fetch(producerMetricsUrl)).text();
      return sample(t, 'tokencast_generations_total', { status: 'cancelled' }) ? t : null;
    });
    expect(sample(prod, 'tokencast_ttft_ms_count')).toBeGreaterThanOrEqual(4);
    expect(sample(prod, 'tokencast_generations_total', { status: 'completed' })).toBeGreaterThanOrEqual(4);
    expect(sample(prod, 'tokencast_generations_total', { status: 'completed', model: 'mock' })).toBeGreaterThanOrEqual(4);
    expect(sample(prod, 'tokencast_tokens_total')).toBeGreaterThanOrEqual(4 * 10);
    expect(sample(prod, 'tokencast_queue_waiting')).not.toBeNull();
    expectNoSecrets(prod);
  });

  it('embedded: one endpoint with every metric', async () => {
    await traffic(embedded.url);
    const text = await waitFor('embedded metrics', async () => {
      const t = await (await fetch(`${embedded.url}/metrics`)).text();
      return (sample(t, 'tokencast_generations_total', { status: 'completed' }) ?? 0) >= 4 ? t : null;
    });
    expect(sample(text, 'tokencast_ttft_ms_count')).toBeGreaterThanOrEqual(4);
    expect(sample(text, 'tokencast_edge_viewers')).not.toBeNull();
    expect(sample(text, 'tokencast_delivery_lag_ms_count')).toBeGreaterThan(0);
    expect(sample(text, 'tokencast_queue_waiting')).not.toBeNull();
    expectNoSecrets(text);
  });
});
