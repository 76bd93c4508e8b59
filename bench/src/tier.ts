import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { callsBetween, commandCalls, commandUsec, redisCpuSeconds, startRedis } from './redis.js';
import { startCluster } from './redis-cluster.js';
import { summarize } from './stats.js';
import { cpuSeconds, machineCpuTicks, type ServerProc, startServer, stealPct } from './sys.js';

/**
 * `npm run bench:tier`: what the Redis tier pays per token (issue #13), with tokencast's own
 * processes: E edges and P producers (the mock model at `rate` tokens/s, one token per append),
 * `gens` live generations with one SSE viewer each, plus `quiet` generations that are followed
 * by a viewer but never written (they sit in a queue no producer serves). Each run gets a fresh
 * redis-server (or a fresh 3-master Redis Cluster) so INFO cpu and INFO commandstats before and
 * after the run are the run's alone.
 *
 * `--builds old=/path/to/checkout,new=.` runs several checkouts of tokencast (each built) in the
 * same invocation, interleaved per repetition, so old and new designs meet the same machine load.
 */
interface Spec {
  gens: number;
  rate: number;
  tokens: number;
  edges: number;
  producers: number;
  quiet: number;
  idleMs: number;
}

interface Build {
  name: string;
  root: string;
  /** Extra environment for this build's processes (`name=path+VAR=value+…`). */
  env: Record<string, string>;
}

interface RunResult {
  build: string;
  redis: 'single' | 'cluster';
  /** The build's claim and append scripts publish on the doorbell themselves (one Redis; flushes()). */
  scriptsPublish?: boolean;
  spec: Spec;
  seconds: number;
  tokensDelivered: number;
  /** SSE chunks with text: fewer than tokens when the producer coalesced tokens into one append. */
  chunksDelivered: number;
  streamsComplete: number;
  redisCpuSeconds: number;
  redisUsPerToken: number;
  commandsPerToken: number;
  /**
   * Socket reads Redis served (INFO stats total_reads_processed) per token: one per round trip
   * a client made, however many commands it carried. Each costs Redis a wake and syscalls, about
   * as much as a small command: fewer, fuller round trips are what lowers the CPU outside commands.
   */
  readsPerToken: number;
  commands: Record<string, number>;
  /** µs spent inside each command (EVALSHA's includes the commands its script ran). */
  commandUsec: Record<string, number>;
  redisCpuPct: number;
  edgesCpuPct: number;
  producersCpuPct: number;
  /** The machine's CPU steal during the run, % of all CPU time (sys.ts machineCpuTicks); null where unknown. */
  stealPct: number | null;
  /** Commands per second the whole tier runs while nothing is written (quiet viewers still attached), per edge. */
  idleCommandsPerSecPerEdge: number;
  idleCommands: Record<string, number>;
  /**
   * Redis memory the run added (INFO used_memory, summed over nodes) per model token stored: the
   * generations' streams and metas (kept for GENERATION_TTL_SECONDS), the queue's entries and the
   * doorbell (bounded: about 2 000 entries).
   */
  bytesPerStoredToken: number;
  /**
   * Delivery lag, token written by the producer → pushed to viewers by an edge, ms: p50 and p99
   * over every edge, interpolated within the edges' tokencast_delivery_lag_ms histogram buckets.
   * Observed once per delivered batch (null when the build has no such histogram).
   */
  lagP50Ms: number | null;
  lagP99Ms: number | null;
  load1AtStart: number;
  problems: string[];
}

class UsageError extends Error {}

function parse(argv: string[]): { spec: Spec; builds: Build[]; modes: ('single' | 'cluster')[]; reps: number; out: string; quietList: number[] } {
  const here = fileURLToPath(new URL('../..', import.meta.url));
  const spec: Spec = { gens: 600, rate: 20, tokens: 200, edges: 2, producers: 1, quiet: 0, idleMs: 10_000 };
  let builds: Build[] = [{ name: 'current', root: here, env: {} }];
  let modes: ('single' | 'cluster')[] = ['single'];
  let reps = 1;
  let quietList: number[] = [];
  let out = fileURLToPath(new URL('../results/tier', import.meta.url));
  const num = (v: string | undefined, flag: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} takes a non-negative integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--gens':
        spec.gens = num(v, a);
        i++;
        break;
      case '--rate':
        spec.rate = num(v, a);
        i++;
        break;
      case '--tokens':
        spec.tokens = num(v, a);
        i++;
        break;
      case '--edges':
        spec.edges = Math.max(1, num(v, a));
        i++;
        break;
      case '--producers':
        spec.producers = Math.max(1, num(v, a));
        i++;
        break;
      case '--quiet':
        // One figure, or several (a run per figure): "100,5000" followed-but-silent generations.
        quietList = (v ?? '').split(',').map((x) => num(x, a));
        i++;
        break;
      case '--reps':
        reps = Math.max(1, num(v, a));
        i++;
        break;
      case '--redis':
        modes = (v ?? '').split(',').map((m) => {
          if (m !== 'single' && m !== 'cluster') throw new UsageError('--redis takes single, cluster or both');
          return m;
        });
        i++;
        break;
      case '--builds':
        builds = (v ?? '').split(',').map((b) => {
          // name=/path/to/checkout, optionally +VAR=value+… (the same checkout under other settings).
          const [head = '', ...vars] = b.split('+');
          const [name, root] = head.split('=');
          if (!name || !root) throw new UsageError('--builds takes name=/path/to/checkout[+VAR=value…],…');
          const env: Record<string, string> = {};
          for (const kv of vars) {
            const eq = kv.indexOf('=');
            if (eq <= 0) throw new UsageError(`--builds: ${kv} is not VAR=value`);
            env[kv.slice(0, eq)] = kv.slice(eq + 1);
          }
          return { name, root: resolve(root), env };
        });
        i++;
        break;
      case '--out':
        out = resolve(v ?? '.');
        i++;
        break;
      default:
        throw new UsageError(
          `unknown flag ${a}\nnpm run bench:tier -- [--gens 600] [--rate 20] [--tokens 200] [--edges 2] [--producers 1] [--quiet 0|100,5000] [--redis single,cluster] [--reps 1] [--builds old=/path,new=/path] [--out dir]`,
        );
    }
  }
  if (quietList.length === 0) quietList = [spec.quiet];
  return { spec, builds, modes, reps, out, quietList };
}

/** A streaming POST (or GET) that counts the content chunks it gets until [DONE] or the end. */
function sse(
  url: string,
  method: 'GET' | 'POST',
  body: unknown,
  onChunk: (n: number) => void,
): { done: Promise<{ tokens: number; chunks: number; ended: boolean }>; close(): void; id: Promise<string> } {
  let tokens = 0;
  let chunks = 0;
  let ended = false;
  let closeFn = () => {};
  let setId: (id: string) => void = () => {};
  const id = new Promise<string>((r) => {
    setId = r;
  });
  const done = new Promise<{ tokens: number; chunks: number; ended: boolean }>((resolveDone) => {
    const u = new URL(url);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        agent: false,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      },
      (res) => {
        setId(String(res.headers['x-generation-id'] ?? ''));
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.startsWith('data: ')) {
              const data = line.slice(6);
              if (data === '[DONE]') ended = true;
              else if (data.includes('"content":"') && !data.includes('"content":""')) chunks += 1;
              // Model tokens from the usage chunk: a chunk may carry several when the writer coalesced.
              const usage = /"completion_tokens":(\d+)/.exec(data);
              if (usage) {
                tokens = Number(usage[1]);
                onChunk(tokens);
              }
            }
            nl = buf.indexOf('\n');
          }
        });
        res.on('end', () => resolveDone({ tokens, chunks, ended }));
        res.on('error', () => resolveDone({ tokens, chunks, ended }));
      },
    );
    req.on('error', () => resolveDone({ tokens, chunks, ended }));
    closeFn = () => req.destroy();
    req.end(payload);
  });
  return { done, close: () => closeFn(), id };
}

async function post(url: string, body: unknown): Promise<{ id: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string };
}

interface Tier {
  url: string;
  cluster: boolean;
  admins: Redis[];
  pids: number[];
  stop(): Promise<void>;
}

async function startTier(mode: 'single' | 'cluster'): Promise<Tier> {
  if (mode === 'single') {
    const r = await startRedis(20_000);
    return { url: r.url, cluster: false, admins: [r.admin], pids: [r.pid], stop: () => r.stop() };
  }
  const c = await startCluster(3, 20_000);
  return { url: c.url, cluster: true, admins: c.admins, pids: c.pids, stop: () => c.stop() };
}

async function infoAll(admins: Redis[]): Promise<{ cpu: number; calls: Record<string, number>; memory: number; usec: Record<string, number>; reads: number }> {
  let cpu = 0;
  let memory = 0;
  let reads = 0;
  const calls: Record<string, number> = {};
  const usec: Record<string, number> = {};
  for (const a of admins) {
    cpu += await redisCpuSeconds(a);
    for (const [k, v] of Object.entries(await commandUsec(a))) usec[k] = (usec[k] ?? 0) + v;
    memory += Number(/used_memory:(\d+)/.exec(await a.info('memory'))?.[1] ?? Number.NaN);
    reads += Number(/total_reads_processed:(\d+)/.exec(await a.info('stats'))?.[1] ?? Number.NaN);
    for (const [k, v] of Object.entries(await commandCalls(a))) calls[k] = (calls[k] ?? 0) + v;
  }
  return { cpu, calls, memory, usec, reads };
}

function sumCalls(c: Record<string, number>, admins: number): { total: number; calls: Record<string, number> } {
  // Each node's second INFO commandstats is ours, not the system's (callsBetween removes one).
  const out = { ...c };
  if (out.info !== undefined) out.info = Math.max(0, out.info - (admins - 1) * 2);
  if (out.info === 0) delete out.info;
  return { total: Object.values(out).reduce((a, n) => a + n, 0), calls: out };
}

/** Cumulative counts of every edge's delivery-lag histogram, summed: bucket upper bound (ms) → count. */
async function lagBuckets(edges: ServerProc[]): Promise<Map<number, number>> {
  const sum = new Map<number, number>();
  for (const e of edges) {
    const text = await fetch(`${e.url}/metrics`).then(
      (r) => (r.ok ? r.text() : ''),
      () => '',
    );
    for (const m of text.matchAll(/^tokencast_delivery_lag_ms_bucket\{le="([^"]+)"\} (\d+)/gm)) {
      const le = m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]);
      sum.set(le, (sum.get(le) ?? 0) + Number(m[2]));
    }
  }
  return sum;
}

/** p50 and p99 of the observations between two histogram reads, linear within a bucket. */
function lagQuantiles(before: Map<number, number>, after: Map<number, number>): { p50: number | null; p99: number | null } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const cum = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const total = cum[cum.length - 1] ?? 0;
  if (total === 0) return { p50: null, p99: null };
  const at = (q: number): number => {
    const rank = q * total;
    for (let i = 0; i < bounds.length; i++) {
      if ((cum[i] as number) >= rank) {
        const lo = i === 0 ? 0 : (bounds[i - 1] as number);
        const hi = bounds[i] as number;
        if (!Number.isFinite(hi)) return lo;
        const below = i === 0 ? 0 : (cum[i - 1] as number);
        const inBucket = (cum[i] as number) - below;
        return inBucket === 0 ? hi : lo + ((hi - lo) * (rank - below)) / inBucket;
      }
    }
    return bounds[bounds.length - 2] ?? 0;
  };
  return { p50: at(0.5), p99: at(0.99) };
}

async function runOnce(build: Build, mode: 'single' | 'cluster', spec: Spec): Promise<RunResult> {
  const problems: string[] = [];
  const tier = await startTier(mode);
  const dir = mkdtempSync(join(tmpdir(), 'tokencast-tier-'));
  const modelsFile = join(dir, 'models.json');
  // "quiet" goes to a queue no producer serves: its generations stay queued, followed, silent.
  writeFileSync(modelsFile, JSON.stringify({ models: { mock: { mock: true }, quiet: { mock: true, queue: 'quiet' } } }));
  const env: Record<string, string> = {
    REDIS_URL: tier.url,
    LOG_LEVEL: 'warn',
    MODELS_FILE: modelsFile,
    MOCK_TOKENS_PER_SECOND: String(spec.rate),
    MOCK_TTFT_MS: '50',
    PRODUCER_CONCURRENCY: String(spec.gens + 16),
    PRODUCER_QUEUES: 'default',
    SHUTDOWN_GRACE_MS: '1000',
    ...(tier.cluster ? { REDIS_CLUSTER: 'true' } : {}),
    ...build.env,
  };
  const procs: ServerProc[] = [];
  try {
    const edges: ServerProc[] = [];
    for (let i = 0; i < spec.edges; i++) edges.push(await startServer(join(build.root, 'apps/edge/dist/main.js'), env));
    const producers: ServerProc[] = [];
    for (let i = 0; i < spec.producers; i++) producers.push(await startServer(join(build.root, 'apps/producer/dist/main.js'), env, [], 'METRICS_PORT'));
    procs.push(...edges, ...producers);

    // Quiet followers first: they are what an edge follows without news.
    const quiet: ReturnType<typeof sse>[] = [];
    for (let i = 0; i < spec.quiet; i += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, spec.quiet - i) }, async (_, j) => {
          const edge = edges[(i + j) % edges.length] as ServerProc;
          const { id } = await post(`${edge.url}/v1/generations`, { model: 'quiet', messages: [{ role: 'user', content: `quiet ${i + j}` }] });
          quiet.push(sse(`${edge.url}/v1/generations/${id}/events`, 'GET', undefined, () => {}));
        }),
      );
    }
    await sleep(1_500);

    const load1AtStart = loadavg()[0] as number;
    const ticksBefore = machineCpuTicks();
    const lagBefore = await lagBuckets(edges);
    const before = await infoAll(tier.admins);
    const cpuOf = (ps: ServerProc[]) => ps.reduce((a, p) => a + cpuSeconds(p.pid), 0);
    const eBefore = cpuOf(edges);
    const pBefore = cpuOf(producers);
    const t0 = performance.now();
    let delivered = 0;
    // Starts spread evenly over one token interval: real generations do not tick in phase, and
    // generations that all tick in the same millisecond would batch better than real ones.
    const gap = 1000 / spec.rate / spec.gens;
    const streams = await Promise.all(
      Array.from({ length: spec.gens }, async (_, i) => {
        await sleep(i * gap);
        const edge = edges[i % edges.length] as ServerProc;
        const body = { model: 'mock', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: `[mock:len=${spec.tokens}] tier ${i}` }] };
        return sse(`${edge.url}/v1/chat/completions`, 'POST', body, (n) => {
          delivered += n;
        });
      }),
    );
    const deadline = sleep(((spec.tokens / spec.rate) * 3 + 60) * 1000).then(() => null);
    const results = await Promise.race([Promise.all(streams.map((s) => s.done)), deadline]);
    const seconds = (performance.now() - t0) / 1000;
    const ticksAfter = machineCpuTicks();
    const after = await infoAll(tier.admins);
    const lag = lagQuantiles(lagBefore, await lagBuckets(edges));
    const eCpu = cpuOf(edges) - eBefore;
    const pCpu = cpuOf(producers) - pBefore;
    for (const s of streams) s.close();
    let complete = 0;
    let chunks = 0;
    if (!results) problems.push('not every stream ended before the deadline');
    else {
      for (const r of results) {
        if (r.ended && r.tokens === spec.tokens) complete += 1;
        chunks += r.chunks;
      }
      if (complete < spec.gens) problems.push(`${spec.gens - complete} of ${spec.gens} streams did not get exactly ${spec.tokens} tokens and [DONE]`);
    }

    // Idle: nothing written, quiet viewers still attached. Two whole REDIS_BLOCK_MS periods (5 s
    // by default): each doorbell subscription PINGs once per period, all in step, so a shorter
    // window counted all of those or none of them.
    await sleep(500);
    const idleBefore = await infoAll(tier.admins);
    await sleep(spec.idleMs);
    const idleAfter = await infoAll(tier.admins);
    for (const q of quiet) q.close();

    const calls = sumCalls(callsBetween(before.calls, after.calls), tier.admins.length);
    const idle = sumCalls(callsBetween(idleBefore.calls, idleAfter.calls), tier.admins.length);
    const cpu = after.cpu - before.cpu;
    const tokens = Math.max(1, delivered);
    // µs inside commands, per command (INFO commandstats; a script's inner commands are counted
    // on their own and inside its EVALSHA too): what is left of Redis's CPU is per-call overhead.
    const usec = callsBetween(before.usec, after.usec);
    return {
      build: build.name,
      scriptsPublish: readFileSync(join(build.root, 'packages/engine/lua/claim-2.lua'), 'utf8').includes("'PUBLISH'"),
      redis: mode,
      spec,
      seconds,
      tokensDelivered: delivered,
      chunksDelivered: chunks,
      streamsComplete: complete,
      redisCpuSeconds: cpu,
      redisUsPerToken: (cpu * 1e6) / tokens,
      commandsPerToken: calls.total / tokens,
      readsPerToken: (after.reads - before.reads) / tokens,
      commands: calls.calls,
      commandUsec: usec,
      redisCpuPct: (100 * cpu) / seconds,
      edgesCpuPct: (100 * eCpu) / seconds,
      producersCpuPct: (100 * pCpu) / seconds,
      stealPct: stealPct(ticksBefore, ticksAfter),
      idleCommandsPerSecPerEdge: idle.total / (spec.idleMs / 1000) / spec.edges,
      idleCommands: idle.calls,
      bytesPerStoredToken: (after.memory - before.memory) / tokens,
      lagP50Ms: lag.p50,
      lagP99Ms: lag.p99,
      load1AtStart,
      problems,
    };
  } finally {
    for (const p of procs) await p.stop();
    await tier.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => summarize(xs)?.median ?? Number.NaN;

/**
 * A run's producer flushes: each rings the doorbell once (PUBLISH on one Redis, SPUBLISH on a
 * cluster). On one Redis, builds whose scripts publish too (claim notices, append.lua's own rings:
 * session 11) publish once per script call besides, so those calls are taken off; a flush that
 * carried only script calls is then not counted (a few per run).
 */
function flushes(r: RunResult): number {
  const pub = (r.commands.publish ?? 0) + (r.commands.spublish ?? 0);
  if (r.redis !== 'single' || !r.scriptsPublish) return pub;
  return Math.max(0, pub - (r.commands.evalsha ?? 0) - (r.commands.eval ?? 0));
}

/**
 * What a flush costs Redis, fitted over every run of one Redis mode and load in this invocation
 * (all builds): Redis CPU per run against the flushes it carried, least squares. A producer that
 * keeps its windows flushes more often than a busy one, and each flush wakes Redis (issue #13,
 * docs/REDIS-TIER.md): the fit says how much of a per-token figure that is. Needs ≥ 3 runs whose
 * flush counts spread by at least 10 %.
 */
function flushFits(runs: RunResult[]): { key: string; usPerFlush: number; usPerTokenAtZero: number; r: number; line: string }[] {
  const byMode = new Map<string, RunResult[]>();
  for (const r of runs) {
    const k = `${r.redis}|${r.spec.quiet}`;
    byMode.set(k, [...(byMode.get(k) ?? []), r]);
  }
  const out: { key: string; usPerFlush: number; usPerTokenAtZero: number; r: number; line: string }[] = [];
  for (const [key, rs] of byMode) {
    if (rs.length < 3) continue;
    const xs = rs.map(flushes);
    const ys = rs.map((r) => r.redisCpuSeconds * 1e6);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ys.reduce((a, b) => a + b, 0) / ys.length;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = 0; i < xs.length; i++) {
      sxy += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
      sxx += ((xs[i] as number) - mx) ** 2;
      syy += ((ys[i] as number) - my) ** 2;
    }
    // Runs whose flush counts hardly differ (every producer kept its windows) say nothing of a flush.
    if (sxx === 0 || syy === 0 || Math.sqrt(sxx / xs.length) < 0.1 * mx) continue;
    const slope = sxy / sxx;
    const tokens = median(rs.map((r) => r.tokensDelivered));
    const atZero = (my - slope * mx) / tokens;
    const r = sxy / Math.sqrt(sxx * syy);
    const [redis, quiet] = key.split('|');
    out.push({
      key,
      usPerFlush: slope,
      usPerTokenAtZero: atZero,
      r,
      line: `flush fit, ${redis} (quiet ${quiet}), ${rs.length} runs: ${fmt(slope, 0)} µs of Redis CPU per producer flush, ${fmt(atZero, 2)} µs per token besides (r = ${fmt(r, 2)})`,
    });
  }
  return out;
}

function fmt(n: number, d = 1): string {
  return Number.isFinite(n) ? n.toFixed(d) : 'n/a';
}

async function main(): Promise<void> {
  const { spec, builds, modes, reps, out, quietList } = parse(process.argv.slice(2));
  const started = new Date();
  const runs: RunResult[] = [];
  const log = (m: string) => console.log(`[${((Date.now() - started.getTime()) / 1000).toFixed(1).padStart(6)}s] ${m}`);
  log(
    `tier: ${spec.gens} generations × ${spec.tokens} tokens at ${spec.rate}/s, ${spec.edges} edges, ${spec.producers} producer(s); quiet ${quietList.join(',')}; redis ${modes.join(',')}; builds ${builds.map((b) => b.name).join(',')}; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const mode of modes) {
    for (const quiet of quietList) {
      for (let rep = 0; rep < reps; rep++) {
        // Builds interleaved within a repetition: the machine's other work hits them alike.
        for (const build of builds) {
          const r = await runOnce(build, mode, { ...spec, quiet });
          runs.push(r);
          log(
            `${build.name} ${mode} quiet=${quiet}: ${fmt(r.redisUsPerToken)} µs Redis CPU/token, ${fmt(r.commandsPerToken, 2)} commands/token, ${fmt(r.readsPerToken, 3)} round trips/token, Redis ${fmt(r.redisCpuPct)} %, edges ${fmt(r.edgesCpuPct)} %, producers ${fmt(r.producersCpuPct)} %, delivery lag p50 ${fmt(r.lagP50Ms ?? Number.NaN)} / p99 ${fmt(r.lagP99Ms ?? Number.NaN)} ms, idle ${fmt(r.idleCommandsPerSecPerEdge)} cmd/s/edge, ${fmt(r.bytesPerStoredToken)} B/stored token, ${fmt((r.redisCpuSeconds * 1e6) / Math.max(1, r.chunksDelivered))} µs and ${fmt((r.commandsPerToken * r.tokensDelivered) / Math.max(1, r.chunksDelivered), 2)} commands per append, ${r.tokensDelivered} tokens (${r.chunksDelivered} chunks) in ${fmt(r.seconds)} s, load ${fmt(r.load1AtStart, 2)}, steal ${fmt(r.stealPct ?? Number.NaN)} %${r.problems.length ? `, PROBLEMS: ${r.problems.join('; ')}` : ''}`,
          );
          log(`   commands: ${JSON.stringify(r.commands)}`);
          const perTok = (k: string) => fmt((r.commandUsec[k] ?? 0) / Math.max(1, r.tokensDelivered), 2);
          log(`   µs/token inside: evalsha ${perTok('evalsha')}, xread ${perTok('xread')}, xadd ${perTok('xadd')}, hmget ${perTok('hmget')}`);
        }
      }
    }
  }
  // Medians per (build, redis, quiet).
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const k = `${r.build}|${r.redis}|${r.spec.quiet}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const rows = [
    '| build | redis | followed (live + quiet) | Redis CPU µs/token | commands/token | round trips/token | tokens per append | Redis CPU µs/append | commands/append | producer flushes/s | producer CPU % | delivery lag p50 / p99 ms | idle commands/s per edge | bytes/stored token | runs | load avg | CPU steal % |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const summary: Record<string, Record<string, number>> = {};
  for (const [k, rs] of groups) {
    const [build, redis, quiet] = k.split('|');
    // Appends: the text chunks viewers got (the producer writes one chunk per append).
    const perAppend = (r: RunResult) => r.tokensDelivered / Math.max(1, r.chunksDelivered);
    const m = {
      redisUsPerToken: median(rs.map((r) => r.redisUsPerToken)),
      commandsPerToken: median(rs.map((r) => r.commandsPerToken)),
      readsPerToken: median(rs.map((r) => r.readsPerToken ?? Number.NaN)),
      tokensPerAppend: median(rs.map(perAppend)),
      redisUsPerAppend: median(rs.map((r) => r.redisUsPerToken * perAppend(r))),
      commandsPerAppend: median(rs.map((r) => r.commandsPerToken * perAppend(r))),
      flushesPerSec: median(rs.map((r) => flushes(r) / r.seconds)),
      producersCpuPct: median(rs.map((r) => r.producersCpuPct)),
      idleCommandsPerSecPerEdge: median(rs.map((r) => r.idleCommandsPerSecPerEdge)),
      bytesPerStoredToken: median(rs.map((r) => r.bytesPerStoredToken)),
      lagP50Ms: median(rs.flatMap((r) => (r.lagP50Ms === null ? [] : [r.lagP50Ms]))),
      lagP99Ms: median(rs.flatMap((r) => (r.lagP99Ms === null ? [] : [r.lagP99Ms]))),
    };
    summary[k] = m;
    rows.push(
      `| ${build} | ${redis} | ${spec.gens} + ${quiet} | ${fmt(m.redisUsPerToken)} | ${fmt(m.commandsPerToken, 2)} | ${fmt(m.readsPerToken, 3)} | ${fmt(m.tokensPerAppend, 1)} | ${fmt(m.redisUsPerAppend)} | ${fmt(m.commandsPerAppend, 2)} | ${fmt(m.flushesPerSec, 0)} | ${fmt(m.producersCpuPct, 0)} | ${fmt(m.lagP50Ms)} / ${fmt(m.lagP99Ms)} | ${fmt(m.idleCommandsPerSecPerEdge)} | ${fmt(m.bytesPerStoredToken)} | ${rs.length} | ${rs.map((r) => fmt(r.load1AtStart, 1)).join(', ')} | ${rs.map((r) => fmt(r.stealPct ?? Number.NaN, 0)).join(', ')} |`,
    );
  }
  console.log(`\n${rows.join('\n')}`);
  const fits = flushFits(runs);
  for (const f of fits) console.log(f.line);
  let redisVersion = '';
  try {
    redisVersion = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {}
  mkdirSync(out, { recursive: true });
  const stamp = started
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d{3}Z$/, 'Z');
  const file = join(out, `${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: started.toISOString(), machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, redis: redisVersion, loadAvgAtEnd: loadavg() }, builds, spec, quiet: quietList, modes, reps, summary, table: rows.join('\n'), flushFits: fits, runs }, null, 2)}\n`,
  );
  log(`wrote ${file}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof UsageError ? err.message : err);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
