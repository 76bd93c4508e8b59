import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisEngine } from '@tokencast/engine';
import { type GenerationMeta, newGenerationId, queuedMeta } from '@tokencast/protocol';
import { newGens, Writer } from '../harness.js';
import { PRODUCER_MAIN } from '../peers/index.js';
import { redisCpuSeconds } from '../redis.js';
import type { Run } from '../results.js';
import { cpuSeconds, waitUntil } from '../sys.js';
import { type Bench, Cases, errorOf, peersFor, recordNotApplicable } from './common.js';

/**
 * Producer: how many tokens/s one producer process publishes with the mock model at a very high
 * MOCK_TOKENS_PER_SECOND (G generations at once, T tokens each), and Redis CPU per token. The
 * naive counterpart is a hand-written loop of one awaited XADD per token.
 */
export async function producer(b: Bench): Promise<void> {
  const { sizes, reps } = b.opts;
  const cases = new Cases(b, 'producer');
  const G = sizes.producerGens;
  const T = sizes.producerTokens;
  const label = `${G} gens × ${T} tokens`;
  const params = { gens: G, tokens: T };
  recordNotApplicable(b, 'producer', label);
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const peer of peersFor(b, 'producer')) {
        try {
          const run = peer === 'tokencast' ? await tokencastProducer(b, G, T) : await naiveProducer(b, G, T);
          cases.add(label, params, peer, run);
        } catch (e) {
          cases.add(label, params, peer, errorOf(e));
        }
      }
    }
  } finally {
    cases.flush();
  }
}

function metaFor(id: string, tokens: number, i: number): GenerationMeta {
  const request = {
    kind: 'chat' as const,
    model: 'mock',
    messages: [{ role: 'user' as const, content: `[mock:len=${tokens}] bench ${i}` }],
    prompt: '',
    maxTokens: null,
    stream: true,
    includeUsage: false,
    params: {},
  };
  return queuedMeta(id, request);
}

async function tokencastProducer(b: Bench, G: number, T: number): Promise<Run> {
  const engine = createRedisEngine({ url: b.redis.url, prefix: 'tc', name: 'bench:producer-scenario' });
  const proc = await startProducer(b.redis.url, G);
  try {
    const ids = Array.from({ length: G }, () => newGenerationId());
    const redisCpu0 = await redisCpuSeconds(b.redis.admin);
    const cpu0 = cpuSeconds(proc.pid);
    const t0 = performance.now();
    for (let i = 0; i < G; i++) await engine.queue.enqueue(metaFor(ids[i] as string, T, i));
    let metas: (GenerationMeta | null)[] = [];
    await waitUntil(
      'the producer to finish every generation',
      async () => {
        metas = await Promise.all(ids.map((id) => engine.store.getMeta(id)));
        return metas.every((m) => m && (m.status === 'completed' || m.status === 'failed'));
      },
      120_000,
      100,
    );
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(proc.pid) - cpu0;
    const redisCpu = (await redisCpuSeconds(b.redis.admin)) - redisCpu0;
    const done = metas.filter((m): m is GenerationMeta => m !== null);
    const tokens = done.reduce((a, m) => a + m.tokens, 0);
    const events = done.reduce((a, m) => a + m.lastOffset, 0);
    const start = Math.min(...done.map((m) => m.startedAt));
    const end = Math.max(...done.map((m) => m.completedAt));
    const seconds = Math.max(0.001, (end - start) / 1000);
    const failed = done.filter((m) => m.status !== 'completed').length;
    return {
      metrics: {
        tokensPerSec: tokens / seconds,
        eventsPerSec: events / seconds,
        tokensPerEvent: tokens / Math.max(1, events),
        redisCpuUsPerToken: (redisCpu * 1e6) / Math.max(1, tokens),
        producerCpuPct: (100 * cpu) / wall,
      },
      checks: { clients: G, complete: done.length - failed, identical: tokens === G * T, verified: 0, problems: failed ? [`${failed} generations failed`] : [] },
    };
  } finally {
    await proc.stop();
    await engine.close();
  }
}

async function startProducer(redisUrl: string, concurrency: number) {
  // A producer has no HTTP port: it is up once it logs "producer started".
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [PRODUCER_MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      REDIS_URL: redisUrl,
      MOCK_TOKENS_PER_SECOND: '10000000',
      MOCK_TTFT_MS: '0',
      PRODUCER_CONCURRENCY: String(concurrency),
      LOG_LEVEL: 'info',
      REDIS_BLOCK_MS: '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitUntil(
    'the producer to start',
    () => {
      if (child.exitCode !== null) throw new Error(`producer exited with ${child.exitCode}: ${out}`);
      return out.includes('producer started');
    },
    20_000,
  );
  return {
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function naiveProducer(b: Bench, G: number, T: number): Promise<Run> {
  const writer = await Writer.start('naive', b.redis.url, '');
  try {
    await sleep(100);
    const redisCpu0 = await redisCpuSeconds(b.redis.admin);
    const cpu0 = cpuSeconds(writer.pid);
    const { seconds } = await writer.flood(newGens(G), T);
    const cpu = cpuSeconds(writer.pid) - cpu0;
    const redisCpu = (await redisCpuSeconds(b.redis.admin)) - redisCpu0;
    const tokens = G * T;
    return {
      metrics: {
        tokensPerSec: tokens / seconds,
        eventsPerSec: tokens / seconds,
        tokensPerEvent: 1,
        redisCpuUsPerToken: (redisCpu * 1e6) / tokens,
        producerCpuPct: (100 * cpu) / seconds,
      },
      checks: { clients: G, complete: G, identical: true, verified: 0, problems: [] },
    };
  } finally {
    await writer.stop();
  }
}
