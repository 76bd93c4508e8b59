import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEdge, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { readSse } from '../support/sse.js';

/**
 * One cluster, several models: a model routed to its own queue is taken only by producers that
 * take that queue, so a producer never receives work for a model it does not serve.
 */
describe('a queue per model', () => {
  let redis: RedisServer;
  let edge: Proc;
  let generalist: Proc;
  let gpu: Proc | null = null;
  let models: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    const dir = mkdtempSync(join(tmpdir(), 'tokencast-queues-'));
    models = join(dir, 'models.json');
    writeFileSync(models, JSON.stringify({ models: { 'big-model': { mock: true, queue: 'gpu' } } }));
    const env = { REDIS_URL: redis.url, MODELS_FILE: models };
    edge = await startEdge(env);
    generalist = await startProducer(env); // PRODUCER_QUEUES unset: the default queue only
  });

  afterAll(async () => {
    for (const p of [edge, generalist, gpu]) await p?.kill();
    await redis?.stop();
  });

  const submit = async (model: string) => {
    const res = await fetch(`${edge.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };

  it('routes each model to its queue and only matching producers take it', async () => {
    const plain = await submit('mock');
    const big = await submit('big-model');
    const plainRead = await readSse(`${edge.url}/v1/generations/${plain}/events`);
    expect(plainRead.done).toBe(true);

    // The big model's job waits in its own queue: the default-queue producer never takes it.
    const c = new Redis(redis.url);
    expect(await c.xlen('tc:queue:gpu')).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    const waiting = (await (await fetch(`${edge.url}/v1/generations/${big}`)).json()) as { status: string };
    expect(waiting.status).toBe('queued');

    gpu = await startProducer({ REDIS_URL: redis.url, MODELS_FILE: models, PRODUCER_QUEUES: 'gpu' });
    const bigRead = await readSse(`${edge.url}/v1/generations/${big}/events`);
    expect(bigRead.done).toBe(true);
    expect(bigRead.text.length).toBeGreaterThan(0);
    const meta = (await (await fetch(`${edge.url}/v1/generations/${big}`)).json()) as { status: string; producer: string };
    expect(meta.status).toBe('completed');
    // Producer names are host-pid-random: the one that ran it is the gpu producer.
    expect(meta.producer).toContain(`-${gpu.pid}-`);
    expect(meta.producer).not.toContain(`-${generalist.pid}-`);
    c.disconnect();
  });
});
