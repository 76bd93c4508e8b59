import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StreamEvent, TokencastClient } from '../../packages/client/src/index.js';
import { chatBody, reference } from '../integration/helpers.js';
import { type Cluster, startCluster } from '../support/cluster.js';

/**
 * Regression of chaos SEED=1 (test/chaos): edges killed and restarted one after another within
 * nginx's fail_timeout left every edge marked down although they were all back, so nginx answered
 * 502 "no live upstreams" for the whole fail_timeout (10 s then), longer than the SDK's default
 * retry budget: SDK viewers gave up with their text unfinished. With fail_timeout=2s the gap is
 * short enough for a client with default settings to ride it out.
 */
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ edges: 3, producers: 1, producerEnv: { MOCK_TOKENS_PER_SECOND: '40' } });
});

afterAll(async () => {
  await cluster?.stop();
});

describe('edges restarted one after another behind nginx', () => {
  it('chaos SEED=1 regression: SDK viewers with the default retry budget end with the exact text', async () => {
    const body = chatBody('[mock:len=400] edges come and go');
    const client = new TokencastClient({ baseUrl: cluster.url, idleTimeoutMs: 10_000 });
    const { id } = await client.submit(body);
    const viewers = Array.from({ length: 6 }, async () => {
      let text = '';
      let last: StreamEvent | null = null;
      for await (const ev of client.stream(id)) {
        last = ev;
        if (ev.type === 'token') text += ev.text;
      }
      return { text, last };
    });
    // Traffic while each edge is down, so that nginx tries it and marks it.
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await fetch(`${cluster.url}/v1/models`).catch(() => {});
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 1_000));
    for (const i of [0, 1, 2]) {
      await cluster.killEdge(i, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 400));
      await cluster.restartEdge(i);
    }
    const results = await Promise.all(viewers);
    polling = false;
    await poller;
    const refused = cluster.nginx.accessLog().filter((l) => l.status === 502).length;
    console.log(`rolling edge restarts: nginx answered 502 to ${refused} requests`);
    for (const r of results) {
      expect(r.last).toMatchObject({ type: 'done', status: 'completed' });
      expect(r.text).toBe(reference(body).text);
    }
  }, 60_000);
});
