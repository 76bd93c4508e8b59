import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { BenchRedis } from './redis.js';
import { freePort, waitUntil } from './sys.js';

const run = promisify(execFile);

/**
 * A real Redis Cluster of `masters` redis-server processes (cluster mode on, no replicas, no
 * Docker), joined by `redis-cli --cluster create`, on free ports (client and bus) in a temp dir.
 * The one way both the bench (startCluster below) and the test suites (test/support/redis-cluster.ts)
 * start one.
 */
export interface ClusterNodes {
  ports: number[];
  pids: number[];
  /** Kills every node and removes the temp dir. */
  stop(): Promise<void>;
}

export interface ClusterNodesOptions {
  masters: number;
  /** redis-server arguments added to every node's (e.g. --maxclients, --cluster-node-timeout). */
  args?: readonly string[];
  /** The error message when redis-server or redis-cli is not on PATH. */
  missing: (binary: string) => string;
  /** Prefix of the temp dir's name. */
  dirPrefix: string;
}

export async function startClusterNodes(o: ClusterNodesOptions): Promise<ClusterNodes> {
  const binary = (name: string) => {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim();
    } catch {
      throw new Error(o.missing(name));
    }
  };
  const server = binary('redis-server');
  const cli = binary('redis-cli');
  const dir = mkdtempSync(join(tmpdir(), o.dirPrefix));
  const procs: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    await Promise.all(
      procs.splice(0).map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < o.masters; i++) {
      const port = await freePort();
      // The bus port defaults to port + 10000, which may be taken or out of range: pick it too.
      const bus = await freePort();
      ports.push(port);
      const args = ['--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes'];
      args.push('--cluster-config-file', `nodes-${port}.conf`, '--save', '', '--appendonly', 'no', ...(o.args ?? []));
      const p = spawn(server, args, { stdio: 'ignore' });
      p.on('error', () => {});
      procs.push(p);
    }
    for (const port of ports) await waitUntil(`redis-server on port ${port} to start`, () => ping(port), 20_000, 25);
    await run(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    // Every node must agree before anything runs: state ok, all nodes known, every slot served.
    for (const port of ports) {
      await waitUntil(
        `cluster node ${port} to reach cluster_state:ok`,
        async () => {
          // A node still starting refuses the connection: that is "not yet".
          const info = await oneShot(port, (c) => c.cluster('INFO')).catch(() => '');
          return /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${o.masters}\\b`).test(info) && /cluster_slots_ok:16384\b/.test(info);
        },
        20_000,
        25,
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, pids: procs.map((p) => p.pid ?? 0), stop };
}

async function oneShot<T>(port: number, f: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    await c.connect();
    return await f(c);
  } finally {
    c.disconnect();
  }
}

async function ping(port: number): Promise<boolean> {
  try {
    return (await oneShot(port, (c) => c.ping())) === 'PONG';
  } catch {
    return false;
  }
}

/** The bench's own Redis Cluster: `masters` redis-servers on free ports, no replicas, no Docker. */
export interface BenchCluster {
  /** Every node's URL, comma-separated: REDIS_URL for tokencast with REDIS_CLUSTER=true. */
  url: string;
  pids: number[];
  /** One plain connection per node, for INFO. */
  admins: Redis[];
  stop(): Promise<void>;
}

export async function startCluster(masters: number, maxClients: number): Promise<BenchCluster> {
  const nodes = await startClusterNodes({
    masters,
    args: ['--maxclients', String(maxClients)],
    missing: (name) => `the cluster benchmark needs ${name} on PATH (apt-get install -y redis-server redis-tools)`,
    dirPrefix: 'tokencast-bench-cluster-',
  });
  const admins = nodes.ports.map((port) => {
    const a = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    a.on('error', () => {});
    return a;
  });
  const stop = async () => {
    for (const a of admins.splice(0)) a.disconnect();
    await nodes.stop();
  };
  return { url: nodes.ports.map((p) => `redis://127.0.0.1:${p}`).join(','), pids: nodes.pids, admins, stop };
}

/** The cluster as the scenarios see a Redis: INFO and CPU are summed over its masters. */
export function asBenchRedis(c: BenchCluster): BenchRedis {
  const nodes = c.admins.map((admin, i) => ({ admin, pid: c.pids[i] ?? 0 }));
  return { url: c.url, pid: c.pids[0] ?? 0, admin: c.admins[0] as Redis, nodes, cluster: true, notes: () => ({}), stop: () => c.stop() };
}
