import { fileURLToPath } from 'node:url';
import { newGenerationId } from '@tokencast/protocol';
import { Histogram } from './hist.js';
import { Helper } from './ipc.js';
import type { LoadResult, OpenRequest } from './load.js';
import type { RunReport, Schedule } from './pacer.js';
import { type PeerName, startPeer } from './peers/index.js';
import type { BenchRedis } from './redis.js';
import type { ServerProc } from './sys.js';

const LOAD_MAIN = fileURLToPath(new URL('./load.js', import.meta.url));
const WRITER_MAIN = fileURLToPath(new URL('./writer.js', import.meta.url));

/** Most connections one load process holds (its open-files limit is shared with nothing else). */
export const PER_LOAD_PROCESS = 5_000;

export function newGens(n: number): string[] {
  return Array.from({ length: n }, () => newGenerationId());
}

/** Merged results of every load process. */
export interface Delivery extends Omit<LoadResult, 'hist'> {
  hist: Histogram;
}

/**
 * The load generators: a pool of processes, each holding a share of the clients. Clients are
 * split in contiguous ranges, so "the last `stalled` clients" stay the last ones overall.
 */
export class Loads {
  private readonly procs: Helper[] = [];
  private completed = new Set<number>();
  private waitingOn = new Set<number>();
  private wake: (() => void) | null = null;

  constructor(private readonly max: number) {}

  private proc(i: number): Helper {
    let p = this.procs[i];
    if (!p) {
      p = Helper.start(`load${i}`, LOAD_MAIN);
      p.on('complete', () => {
        this.completed.add(i);
        this.wake?.();
      });
      this.procs[i] = p;
    }
    return p;
  }

  /** Open `count` clients over `processes` load processes. */
  async open(
    o: Omit<OpenRequest, 'first' | 'concurrency' | 'skipLatency'> & { processes?: number; concurrency?: number; skipLatency?: number },
  ): Promise<{ opened: number; failed: number }> {
    const k = Math.min(this.max, Math.max(o.processes ?? 1, Math.ceil(o.count / PER_LOAD_PROCESS)));
    const parts: Promise<{ opened: number; failed: number }>[] = [];
    for (let p = 0; p < k; p++) {
      const a = Math.floor((o.count * p) / k);
      const b = Math.floor((o.count * (p + 1)) / k);
      if (b === a) continue;
      const stalled = Math.max(0, b - Math.max(a, o.count - o.stalled));
      if (b - a - stalled > 0) this.waitingOn.add(p);
      const req: OpenRequest = {
        transport: o.transport,
        url: o.url,
        gens: o.gens,
        count: b - a,
        first: a,
        expected: o.expected,
        skipLatency: o.skipLatency ?? 0,
        stalled,
        verify: Math.min(o.verify, b - a - stalled),
        concurrency: o.concurrency ?? 256,
        deferred: o.deferred,
      };
      parts.push(this.proc(p).call({ op: 'open', ...req }));
    }
    const res = await Promise.all(parts);
    return { opened: res.reduce((s, r) => s + r.opened, 0), failed: res.reduce((s, r) => s + r.failed, 0) };
  }

  /** Pids of the load processes started so far. */
  pids(): number[] {
    return this.procs.filter(Boolean).map((p) => p.pid);
  }

  async go(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.call({ op: 'go' })));
  }

  /** Resolves true once every client that reads has everything, false at the deadline. */
  async waitComplete(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.waitingOn].some((p) => !this.completed.has(p))) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return true;
  }

  async collect(): Promise<Delivery> {
    const parts = await Promise.all(this.procs.map((p) => p.call<LoadResult>({ op: 'collect' })));
    const hist = new Histogram();
    const out: Delivery = {
      clients: 0,
      opened: 0,
      failed: 0,
      openNow: 0,
      complete: 0,
      delivered: 0,
      minCount: Number.POSITIVE_INFINITY,
      maxCount: 0,
      texts: {},
      hist,
      lastAtUs: 0,
      completeAtUs: [],
      verified: 0,
      verifyErrors: [],
      errors: [],
    };
    for (const r of parts) {
      if (r.clients === 0) continue;
      out.clients += r.clients;
      out.opened += r.opened;
      out.failed += r.failed;
      out.openNow += r.openNow;
      out.complete += r.complete;
      out.delivered += r.delivered;
      out.minCount = Math.min(out.minCount, r.minCount);
      out.maxCount = Math.max(out.maxCount, r.maxCount);
      for (const [k, v] of Object.entries(r.texts)) out.texts[k] = (out.texts[k] ?? 0) + v;
      hist.merge(r.hist);
      out.lastAtUs = Math.max(out.lastAtUs, r.lastAtUs);
      out.completeAtUs.push(...r.completeAtUs);
      out.verified += r.verified;
      out.verifyErrors.push(...r.verifyErrors);
      out.errors.push(...r.errors);
    }
    if (out.minCount === Number.POSITIVE_INFINITY) out.minCount = 0;
    return out;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.call({ op: 'closeAll' })));
    this.completed = new Set();
    this.waitingOn = new Set();
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
  }
}

/** A writer process bound to one peer (writer.ts). */
export class Writer {
  private constructor(private readonly helper: Helper) {}

  static async start(peer: PeerName, redisUrl: string, serverUrl: string): Promise<Writer> {
    const w = new Writer(Helper.start(`writer:${peer}`, WRITER_MAIN));
    await w.init(peer, redisUrl, serverUrl);
    return w;
  }

  /** (Re)bind to a peer's server; a writer outlives server restarts. */
  init(peer: PeerName, redisUrl: string, serverUrl: string): Promise<void> {
    return this.helper.call({ op: 'init', peer, redisUrl, serverUrl });
  }

  get pid(): number {
    return this.helper.pid;
  }

  prepare(gens: string[]): Promise<void> {
    return this.helper.call({ op: 'prepare', gens });
  }

  run(gens: string[], sched: Schedule): Promise<RunReport> {
    return this.helper.call({ op: 'run', gens, sched });
  }

  bulk(gen: string, tokens: number): Promise<number> {
    return this.helper.call({ op: 'bulk', gen, tokens });
  }

  flood(gens: string[], tokens: number): Promise<{ seconds: number }> {
    return this.helper.call({ op: 'flood', gens, tokens });
  }

  async stop(): Promise<void> {
    await this.helper.call({ op: 'close' }).catch(() => {});
    await this.helper.stop();
  }
}

/** A peer's server with its writer: what one system under test is during a run. */
export interface Target {
  peer: PeerName;
  server: ServerProc;
  writer: Writer;
}

/**
 * The started systems under test, shared by the scenarios: one server and one writer per peer.
 * Scenarios that measure memory ask for a fresh server; the writer process is kept.
 */
export class Targets {
  private readonly servers = new Map<PeerName, ServerProc>();
  private readonly writers = new Map<PeerName, Writer>();

  constructor(
    private readonly redis: BenchRedis,
    private readonly profileDir: string | null,
  ) {}

  async get(peer: PeerName): Promise<Target> {
    let server = this.servers.get(peer);
    let writer = this.writers.get(peer);
    if (!server) {
      server = await startPeer(peer, { redisUrl: this.redis.url, profileDir: this.profileDir });
      this.servers.set(peer, server);
      if (writer) await writer.init(peer, this.redis.url, server.url);
    }
    if (!writer) {
      writer = await Writer.start(peer, this.redis.url, server.url);
      this.writers.set(peer, writer);
    }
    return { peer, server, writer };
  }

  /** A target on a newly started server (for memory measurements). */
  async fresh(peer: PeerName): Promise<Target> {
    await this.retire(peer);
    return this.get(peer);
  }

  /** Stop the peer's server; the next get() starts a new one. */
  async retire(peer: PeerName): Promise<void> {
    const s = this.servers.get(peer);
    this.servers.delete(peer);
    await s?.stop();
  }

  /** Stop server and writer, after a failure. */
  async drop(peer: PeerName): Promise<void> {
    await this.retire(peer);
    const w = this.writers.get(peer);
    this.writers.delete(peer);
    await w?.stop().catch(() => {});
  }

  async stopAll(): Promise<void> {
    for (const p of new Set([...this.servers.keys(), ...this.writers.keys()])) await this.drop(p);
  }
}
