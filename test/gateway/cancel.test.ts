import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc } from '../support/processes.js';
import { readSse, type SseRead } from '../support/sse.js';
import { waitFor } from '../support/wait.js';
import { type Cluster, call, type FakeUpstream, median, startCluster, startFakeUpstream, type UpstreamCall } from './support.js';

/**
 * Cancellation end to end: edge and producer processes on Redis, the producer streaming from a
 * fake OpenAI-compatible upstream that records when its request is cut.
 */
let cluster: Cluster;
let upstream: FakeUpstream;
let edge: Proc;

beforeAll(async () => {
  upstream = await startFakeUpstream({ intervalMs: 20, maxMs: 60_000 });
  cluster = await startCluster();
  const models = { UPSTREAM_URL: upstream.url, MOCK_MODELS: '', UPSTREAM_MODELS: 'fake' };
  [edge] = await Promise.all([cluster.edge(models), cluster.producer(models)]);
});

afterAll(async () => {
  await cluster?.stop();
  await upstream?.close();
});

const body = (prompt: string) => ({ model: 'fake', messages: [{ role: 'user', content: prompt }], stream_options: { include_usage: true } });

async function nextCall(index: number): Promise<UpstreamCall> {
  return waitFor(`upstream call #${index + 1}`, async () => upstream.calls[index] ?? null);
}

function lastChunks(r: SseRead): { finishReason: unknown; usage: { prompt_tokens: number; completion_tokens: number } | undefined } {
  const payloads = r.events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
  const finish = payloads.filter((p) => p.choices?.length > 0).at(-1);
  const usage = payloads.find((p) => Array.isArray(p.choices) && p.choices.length === 0)?.usage;
  return { finishReason: finish?.choices[0].finish_reason, usage };
}

describe('cancel', () => {
  it('aborts the upstream within 100 ms; every watcher sees a clean cancelled end; usage is what was produced', async () => {
    const latencies: number[] = [];
    const fromSent: number[] = [];
    for (let run = 0; run < 5; run++) {
      const created = await call(`${edge.url}/v1/generations`, { json: body(`run ${run}`) });
      expect(created.status, created.text).toBe(202);
      const id = created.body.id as string;
      const eventsUrl = `${edge.url}${created.body.events_url}`;
      const watchers = [readSse(eventsUrl), readSse(eventsUrl)];
      const up = await nextCall(run);
      await waitFor('a few tokens', async () => up.chunksSent >= 8);

      // Alternate the two ways of asking.
      const sent = performance.now();
      const cancel = run % 2 === 0 ? call(`${edge.url}/v1/generations/${id}`, { method: 'DELETE' }) : call(`${edge.url}/v1/generations/${id}/cancel`, { method: 'POST' });
      const res = await cancel;
      const returned = performance.now();
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id, cancel_requested: true });
      const closedAt = await waitFor('the upstream to see the abort', async () => up.closedAt, 5_000, 1);
      expect(up.aborted).toBe(true);
      latencies.push(closedAt - returned);
      fromSent.push(closedAt - sent);

      const reads = await Promise.all(watchers);
      const meta = await call(`${edge.url}/v1/generations/${id}`);
      expect(meta.body).toMatchObject({ status: 'cancelled', finish_reason: 'cancelled' });
      for (const r of reads) {
        expect(r.status).toBe(200);
        expect(r.done).toBe(true);
        expect(r.events.at(-1)?.data).toBe('[DONE]');
        const { finishReason, usage } = lastChunks(r);
        expect(finishReason).toBe('cancelled');
        // Honest usage: exactly the tokens that were streamed, and no more than the upstream sent.
        expect(r.text).toMatch(/^x+$/);
        expect(usage?.completion_tokens).toBe(r.text.length);
        expect(meta.body.usage.completion_tokens).toBe(r.text.length);
        expect(r.text.length).toBeLessThanOrEqual(up.chunksSent);
        expect(r.text).toBe(reads[0]?.text);
      }
      expect(meta.body.usage.prompt_tokens).toBeGreaterThan(0);
      // A second cancel of an ended generation asks nothing more.
      const again = await call(`${edge.url}/v1/generations/${id}`, { method: 'DELETE' });
      expect(again.body).toMatchObject({ cancel_requested: false, status: 'cancelled' });
    }
    const m = median(latencies);
    console.log(
      `cancel → upstream abort, ms after the cancel response: ${latencies.map((l) => l.toFixed(1)).join(', ')}; median ${m.toFixed(1)}; after the cancel was sent: median ${median(fromSent).toFixed(1)}`,
    );
    expect(m).toBeLessThan(100);
  });

  it('a watcher closing its connection does not cancel: the generation completes', async () => {
    const first = upstream.calls.length;
    const created = await call(`${edge.url}/v1/generations`, { json: body('finite [n=30]') });
    const id = created.body.id as string;
    const left = await readSse(`${edge.url}/v1/generations/${id}/events`, { stopAfter: 3 });
    expect(left.ids.length).toBeGreaterThanOrEqual(3);
    expect(left.done).toBe(false);

    // The creator's own streaming response, dropped mid-way, is not a cancel either.
    const own = await readSse(`${edge.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body('own [n=30]'), stream: true }),
      stopAfter: 3,
    });
    const ownId = own.headers.get('x-generation-id') as string;
    expect(ownId).toMatch(/^gen_/);

    for (const g of [id, ownId]) {
      const meta = await waitFor(`${g} to end`, async () => {
        const r = await call(`${edge.url}/v1/generations/${g}`);
        return r.body.status === 'queued' || r.body.status === 'running' ? null : r.body;
      });
      expect(meta).toMatchObject({ status: 'completed', finish_reason: 'stop' });
      expect(meta.usage.completion_tokens).toBe(30);
    }
    const calls = upstream.calls.slice(first);
    expect(calls.map((c) => [c.chunksSent, c.aborted])).toEqual([
      [30, false],
      [30, false],
    ]);
  });
});
