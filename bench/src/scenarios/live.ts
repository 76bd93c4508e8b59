import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Delivery, Target } from '../harness.js';
import { newGens } from '../harness.js';
import { transportOf } from '../peers/names.js';
import { callsBetween, nodeCalls } from '../redis.js';
import type { Run } from '../results.js';
import { cpuSeconds, rssBytes } from '../sys.js';
import type { Bench } from './common.js';

/** One live generation scenario: `gens` generations, `watchers` clients each, written at `rate`. */
export interface LiveSpec {
  gens: number;
  watchers: number;
  /** Clients (the last ones) that stop reading right after the headers. */
  stalled: number;
  rate: number;
  /** Tokens per generation, burst included. */
  tokens: number;
  /**
   * Tokens written at once first, and the pause after them (ms): fills the buffers of stalled
   * clients before the measured part; their latency is not recorded. 0: none.
   */
  burst?: number;
  gapMs?: number;
  /** Load processes to spread the clients over (at least). */
  processes: number;
}

/**
 * Commands of the write path, per peer: the same for every number of clients, so they are left
 * out of "read" commands per event. tokencast and naive share the writer (append.lua runs
 * HMGET/XADD, and HSET/EXPIRE at checkpoints, inside EVALSHA); socket.io's writer is one XADD per emit.
 */
const WRITE_PATH: Record<string, string[]> = {
  tokencast: ['evalsha', 'eval', 'hmget', 'xadd', 'hset', 'expire', 'xdel', 'xsetid'],
  naive: ['evalsha', 'eval', 'hmget', 'xadd', 'hset', 'expire', 'xdel', 'xsetid'],
  'socket.io': ['xadd'],
};

export function textCheck(d: Delivery, digests: Record<string, number>, tokens: number): { identical: boolean; problems: string[] } {
  const problems: string[] = [];
  let matching = 0;
  let readers = 0;
  for (const [key, n] of Object.entries(d.texts)) {
    readers += n;
    const [gen, count, digest] = key.split(' ');
    if (Number(count) === tokens && Number(digest) === digests[gen as string]) matching += n;
    else if (problems.length < 3) problems.push(`${n} client(s) of ${gen?.slice(0, 10)}… got ${count}/${tokens} tokens${Number(count) === tokens ? ' with a different text' : ''}`);
  }
  if (d.verifyErrors.length) problems.push(...d.verifyErrors.slice(0, 2).map((e) => `verify: ${e}`));
  if (d.errors.length) problems.push(...d.errors.slice(0, 2).map((e) => `client: ${e}`));
  return { identical: readers > 0 && matching === readers && d.verifyErrors.length === 0, problems };
}

export async function liveRun(b: Bench, t: Target, s: LiveSpec): Promise<Run> {
  const gens = newGens(s.gens);
  const count = s.gens * s.watchers + s.stalled;
  await t.writer.prepare(gens);
  const open = await b.loads.open({
    transport: transportOf(t.peer),
    url: t.server.url,
    gens,
    count,
    expected: s.tokens,
    skipLatency: s.burst ?? 0,
    stalled: s.stalled,
    verify: 1,
    deferred: false,
    processes: s.processes,
  });
  const problems: string[] = [];
  if (open.failed > 0) problems.push(`${open.failed} of ${count} connections failed`);
  try {
    // Joins settle (resumable-stream acks, socket.io room joins, tail adds) before the clock starts.
    await sleep(b.opts.sizes.settleMs);
    const pid = t.server.pid;
    const callsBefore = await nodeCalls(b.redis);
    const cpuBefore = cpuSeconds(pid);
    // The rest of the machine, to see what bounds a run: load generators, writer, Redis.
    const others = (): [number, number, number] => [
      b.loads.pids().reduce((a, p) => a + cpuSeconds(p), 0),
      cpuSeconds(t.writer.pid),
      b.redis.nodes.reduce((a, n) => a + cpuSeconds(n.pid), 0),
    ];
    const othersBefore = others();
    const load1 = loadavg()[0] as number;
    const t0 = performance.now();
    let rssPeak = rssBytes(pid);
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssBytes(pid));
    }, 100);
    let report: Awaited<ReturnType<typeof t.writer.run>>;
    let completed: boolean;
    try {
      report = await t.writer.run(gens, { rate: s.rate, tokens: s.tokens, burst: s.burst ?? 0, gapMs: s.gapMs ?? 0 }).catch((e: unknown) => {
        t.server.assertAlive();
        throw e;
      });
      completed = await b.loads.waitComplete(Math.max(10_000, ((s.tokens - (s.burst ?? 0)) / s.rate) * 1000));
    } finally {
      clearInterval(sampler);
    }
    t.server.assertAlive();
    rssPeak = Math.max(rssPeak, rssBytes(pid));
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    if (Number.isNaN(cpu)) {
      // Gone between the check above and now: let its exit be seen, then report the crash.
      await sleep(200);
      t.server.assertAlive();
    }
    const othersAfter = others();
    const calls = callsBetween(callsBefore, await nodeCalls(b.redis));
    // callsBetween leaves out one INFO; a cluster's other nodes answered one each too.
    if (calls.info) calls.info = Math.max(0, calls.info - (b.redis.nodes.length - 1));
    const d = await b.loads.collect();
    if (!completed) problems.push('not every client had every token before the deadline');
    const text = textCheck(d, report.digests, s.tokens);
    problems.push(...text.problems);
    const total = Object.values(calls).reduce((a, n) => a + n, 0);
    const writePath = WRITE_PATH[t.peer] ?? [];
    const reads = Object.entries(calls)
      .filter(([k]) => !writePath.includes(k))
      .reduce((a, [, n]) => a + n, 0);
    const duration = Math.max(1e-6, (d.lastAtUs - report.firstUs) / 1e6);
    const ev = Math.max(1, d.delivered);
    return {
      metrics: {
        clients: count,
        eventsPerSec: d.delivered / duration,
        deliveredPct: (100 * d.delivered) / Math.max(1, (count - s.stalled) * s.tokens),
        p50Ms: d.hist.quantile(0.5) / 1000,
        p99Ms: d.hist.quantile(0.99) / 1000,
        cpuPct: (100 * cpu) / wall,
        cpuUsPerEvent: (cpu * 1e6) / ev,
        redisPerEvent: total / ev,
        redisReadPerEvent: reads / ev,
        // Per model token written (issue #13): what the Redis tier pays, whatever the viewers.
        redisCpuUsPerToken: ((othersAfter[2] - othersBefore[2]) * 1e6) / Math.max(1, s.gens * s.tokens),
        redisCmdsPerToken: total / Math.max(1, s.gens * s.tokens),
        rssPeakMiB: rssPeak / 2 ** 20,
        loadCpuPct: (100 * (othersAfter[0] - othersBefore[0])) / wall,
        writerCpuPct: (100 * (othersAfter[1] - othersBefore[1])) / wall,
        redisCpuPct: (100 * (othersAfter[2] - othersBefore[2])) / wall,
        // Other engineers share this machine: the 1-minute load average when the run started.
        machineLoad: load1,
      },
      checks: { clients: count - s.stalled, complete: d.complete, identical: text.identical, verified: d.verified, problems },
      redisCalls: calls,
    };
  } finally {
    await b.loads.closeAll();
  }
}
