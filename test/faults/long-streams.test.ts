import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatBody, contiguous, offsets, read, reference, submit, textOf } from '../integration/helpers.js';
import { type Cluster, startCluster } from '../support/cluster.js';
import { type Proc, startEmbedded } from '../support/processes.js';

/**
 * Long, quiet streams against every timeout on the way: the edge's own server timeouts, and
 * nginx (the shipped config) in front of it.
 */
describe('server timeouts', () => {
  let edge: Proc;

  beforeAll(async () => {
    // Every server-side timeout far shorter than the stream.
    edge = await startEmbedded({
      HEADERS_TIMEOUT_MS: '500',
      REQUEST_TIMEOUT_MS: '1000',
      KEEP_ALIVE_TIMEOUT_MS: '500',
      MOCK_TOKENS_PER_SECOND: '10',
      HEARTBEAT_MS: '300',
      LOG_LEVEL: 'warn',
    });
  });

  afterAll(async () => {
    await edge?.kill();
  });

  it('PITFALLS "Server timeouts close long streams": a 4 s stream outlives REQUEST_TIMEOUT_MS=1000, HEADERS_TIMEOUT_MS=500 and KEEP_ALIVE_TIMEOUT_MS=500 on one response', async () => {
    const body = chatBody('[mock:len=40] slow and steady');
    const id = await submit(edge.url, body);
    const t0 = Date.now();
    const r = await read(`${edge.url}/v1/generations/${id}/events`);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThan(3_000);
    expect(r.how).toBe('end');
    expect(r.done).toBe(true);
    expect(contiguous(offsets(r.events), 0)).toBe(true);
    expect(textOf(r.events)).toBe(reference(body).text);
  });
});

describe('through nginx (deploy/nginx/nginx.conf)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ edges: 1, producers: 1, edgeEnv: { HEARTBEAT_MS: '400' }, producerEnv: { MOCK_TOKENS_PER_SECOND: '8' } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** A raw GET that keeps the response headers and the time of every chunk. */
  function rawGet(url: string, headers: Record<string, string>): Promise<{ headers: Record<string, string | string[] | undefined>; chunks: { at: number; text: string }[] }> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers }, (res) => {
        const chunks: { at: number; text: string }[] = [];
        res.on('data', (d: Buffer) => chunks.push({ at: Date.now(), text: d.toString('latin1') }));
        res.on('end', () => resolve({ headers: res.headers, chunks }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('PITFALLS "Buffering proxies hold tokens back": tokens pass nginx one by one, uncompressed even when gzip is accepted', async () => {
    const body = chatBody('[mock:len=16] through the proxy');
    const id = await submit(cluster.url, body);
    // Asked for gzip, as browsers do: an event stream must not be compressed (that buffers too).
    const r = await rawGet(`${cluster.url}/v1/generations/${id}/events`, { 'accept-encoding': 'gzip, deflate, br' });
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(r.headers['content-encoding']).toBeUndefined();
    const withIds = r.chunks.filter((c) => /^id: \d+$/m.test(c.text));
    const spread = (withIds.at(-1)?.at ?? 0) - (withIds[0]?.at ?? 0);
    const beats = r.chunks.filter((c) => /^:/m.test(c.text)).length;
    console.log(`through nginx: ${withIds.length} chunks carrying events over ${spread} ms, ${beats} heartbeat chunks`);
    // 16 tokens at 8 per second: they arrive over ~2 s in many separate writes, not in one lump at the end.
    expect(withIds.length).toBeGreaterThanOrEqual(8);
    expect(spread).toBeGreaterThan(1_000);
    const full = r.chunks.map((c) => c.text).join('');
    expect(full).toContain('data: [DONE]');
    // Directly from the edge the response says so to any proxy in between.
    const direct = await rawGet(`${cluster.edges[0]?.url}/v1/generations/${id}/events`, {});
    expect(direct.headers['x-accel-buffering']).toBe('no');
    expect(direct.headers['cache-control']).toMatch(/no-cache/);
  });

  it('PITFALLS "Idle streams are cut at 60 s": an idle stream keeps receiving heartbeats through nginx', async () => {
    // A generation nobody produces yet (its producer stopped): the viewer's stream is idle.
    await cluster.killProducer(0, 'SIGKILL');
    const body = chatBody('[mock:len=5] nobody makes me yet');
    const id = await submit(cluster.url, body);
    const ac = new AbortController();
    const res = await fetch(`${cluster.url}/v1/generations/${id}/events`, { signal: ac.signal });
    const beats: number[] = [];
    const t0 = Date.now();
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          if (/^:/m.test(decoder.decode(chunk, { stream: true }))) beats.push(Date.now() - t0);
        }
      } catch {}
    })();
    await new Promise((r) => setTimeout(r, 2_000));
    ac.abort();
    await reading;
    console.log(`idle stream through nginx: heartbeats at ${beats.join(', ')} ms`);
    expect(beats.length).toBeGreaterThanOrEqual(3);
    await cluster.restartProducer(0);
  });
});
