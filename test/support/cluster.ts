import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Nginx, repoRoot, startNginx } from './nginx.js';
import { FAST_ENV, type Proc, startProcess } from './processes.js';
import { freePort, type RedisServer, startRedisServer } from './redis.js';

/**
 * The cluster topology from local binaries: redis-server, N edges, M producers and Debian's nginx
 * with deploy/nginx/nginx.conf in front of the edges, every one on a free port. Used by the
 * cluster tests and by `npm run cluster` (scripts/cluster.ts), so both run the same thing.
 * Processes run from the build (apps/*\/dist): build first.
 */
export interface ClusterOptions {
  /** Edge processes behind nginx (default 3). */
  edges?: number;
  /** Producer processes (default 2). */
  producers?: number;
  /** Environment for every edge and producer (REDIS_URL, PORT and PRODUCER_NAME are set here). */
  env?: Record<string, string>;
  edgeEnv?: Record<string, string>;
  producerEnv?: Record<string, string>;
  /** Persist Redis with an append-only file fsynced on every write (default true), so a restart,
   * even after SIGKILL, keeps every acknowledged event. False: a cache, empty after a restart. */
  persistent?: boolean;
  /** Test settings (short heartbeats and blocks, fast mock; default true). False: the apps' own
   * defaults, as in production. */
  fast?: boolean;
  /** Every line a process prints, as it prints it (the script shows them). */
  onOutput?: (who: string, line: string) => void;
}

export interface Cluster {
  /** The one endpoint: nginx. */
  url: string;
  redis: RedisServer;
  nginx: Nginx;
  /** The process in each edge slot (replaced by restartEdge). */
  edges: Proc[];
  /** The process in each producer slot (replaced by restartProducer). */
  producers: Proc[];
  /** `127.0.0.1:port` of each edge slot, as nginx names it (X-Tokencast-Edge, access log). */
  edgeAddrs: string[];
  /** PRODUCER_NAME of each producer slot's current process (as in a generation's `producer`). */
  producerNames: string[];
  /** Slot of an edge from the address nginx reports (the last one when it tried several); -1 if none. */
  edgeIndex(addr: string | null): number;
  /** Slot of a producer from its name; -1 if none. */
  producerIndex(name: string | null): number;
  /** Signal an edge (default SIGKILL) and wait for it to exit; resolves with its exit code. */
  killEdge(i: number, signal?: NodeJS.Signals): Promise<number | null>;
  /** Start an edge again in slot i, on the same port (nginx's config stays valid). */
  restartEdge(i: number, env?: Record<string, string>): Promise<Proc>;
  killProducer(i: number, signal?: NodeJS.Signals): Promise<number | null>;
  /** Start a producer again in slot i, under a new name, with extra environment. */
  restartProducer(i: number, env?: Record<string, string>): Promise<Proc>;
  /** Writes every process's output to a new temp directory and returns its path (for a failed test). */
  dumpLogs(): string;
  stop(): Promise<void>;
}

/** The apps' defaults instead of FAST_ENV's (an empty value means "unset" to the config readers). */
const DEFAULT_ENV: Record<string, string> = Object.fromEntries(Object.keys(FAST_ENV).map((k) => [k, k === 'LOG_LEVEL' ? 'info' : '']));

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const root = repoRoot();
  const edgeMain = join(root, 'apps', 'edge', 'dist', 'main.js');
  const producerMain = join(root, 'apps', 'producer', 'dist', 'main.js');
  const nEdges = opts.edges ?? 3;
  const nProducers = opts.producers ?? 2;
  const base = opts.fast === false ? DEFAULT_ENV : {};
  const started: { kill(signal?: NodeJS.Signals): unknown }[] = [];
  // Children must not outlive this process, even when it dies without stopping the cluster.
  const orphanGuard = () => {
    // Synchronous: each of these sends its signal before its first await.
    for (const p of started) p.kill('SIGKILL');
    void nginx?.stop();
    void redis?.kill();
  };
  process.once('exit', orphanGuard);

  let redis: RedisServer | null = null;
  let nginx: Nginx | null = null;
  const edges: Proc[] = [];
  const producers: Proc[] = [];
  const producerNames: string[] = [];
  const restarts: number[] = [];

  const pipe = (who: string, p: Proc) => {
    const onOutput = opts.onOutput;
    if (!onOutput) return;
    let partial = '';
    const take = (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l) onOutput(who, l);
    };
    p.child.stdout?.on('data', take);
    p.child.stderr?.on('data', take);
  };
  const track = (p: Proc) => {
    started.push({ kill: (s) => p.child.exitCode === null && p.child.signalCode === null && p.child.kill(s) });
    return p;
  };
  const edgePorts: number[] = [];
  const launchEdge = async (i: number, extra: Record<string, string> = {}) => {
    const p = track(
      await startProcess(edgeMain, {
        ...base,
        ...opts.env,
        ...opts.edgeEnv,
        ...extra,
        REDIS_URL: (redis as RedisServer).url,
        PORT: String(edgePorts[i]),
      }),
    );
    pipe(`edge-${i}`, p);
    edges[i] = p;
    return p;
  };
  const launchProducer = async (i: number, extra: Record<string, string> = {}) => {
    restarts[i] = (restarts[i] ?? -1) + 1;
    const name = restarts[i] === 0 ? `producer-${i}` : `producer-${i}.${restarts[i]}`;
    const p = track(
      await startProcess(producerMain, { ...base, ...opts.env, ...opts.producerEnv, ...extra, REDIS_URL: (redis as RedisServer).url, PRODUCER_NAME: name }, [], {
        waitForHttp: false,
      }),
    );
    pipe(`producer-${i}`, p);
    producers[i] = p;
    producerNames[i] = name;
    // A producer has no port; it is ready once it says so.
    const deadline = Date.now() + 15_000;
    while (!p.logs().includes('producer started')) {
      if (p.child.exitCode !== null) throw new Error(`producer ${name} exited with ${p.child.exitCode}:\n${p.logs()}`);
      if (Date.now() > deadline) throw new Error(`producer ${name} did not start:\n${p.logs()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return p;
  };

  const stop = async () => {
    // Producers first (they write), then edges, then the proxy and the store.
    await Promise.all(producers.map((p) => p?.kill('SIGKILL')));
    await Promise.all(edges.map((p) => p?.kill('SIGKILL')));
    await nginx?.stop();
    await redis?.stop();
    process.off('exit', orphanGuard);
  };

  try {
    redis = await startRedisServer({ appendOnly: opts.persistent !== false, args: ['--appendfsync', 'always', '--maxmemory-policy', 'noeviction'] });
    for (let i = 0; i < nEdges; i++) edgePorts.push(await freePort());
    await Promise.all([...edgePorts.map((_, i) => launchEdge(i)), ...Array.from({ length: nProducers }, (_, i) => launchProducer(i))]);
    const edgeAddrs = edgePorts.map((p) => `127.0.0.1:${p}`);
    nginx = await startNginx({ upstreams: edgeAddrs });
    const n = nginx;
    const r = redis;
    return {
      url: n.url,
      redis: r,
      nginx: n,
      edges,
      producers,
      edgeAddrs,
      producerNames,
      edgeIndex(addr) {
        const last = addr?.split(',').pop()?.trim();
        return last ? edgeAddrs.indexOf(last) : -1;
      },
      producerIndex(name) {
        return name ? producerNames.indexOf(name) : -1;
      },
      killEdge: (i, signal = 'SIGKILL') => (edges[i] as Proc).kill(signal),
      async restartEdge(i, env) {
        await (edges[i] as Proc).kill('SIGKILL');
        return launchEdge(i, env);
      },
      killProducer: (i, signal = 'SIGKILL') => (producers[i] as Proc).kill(signal),
      async restartProducer(i, env) {
        await (producers[i] as Proc).kill('SIGKILL');
        return launchProducer(i, env);
      },
      dumpLogs() {
        const dir = mkdtempSync(join(tmpdir(), 'tokencast-cluster-logs-'));
        for (const [i, p] of edges.entries()) writeFileSync(join(dir, `edge-${i}.log`), p.logs());
        for (const [i, p] of producers.entries()) writeFileSync(join(dir, `producer-${i}.log`), p.logs());
        writeFileSync(join(dir, 'nginx.log'), n.logs());
        return dir;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
