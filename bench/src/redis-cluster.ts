import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { BenchRedis } from './redis.js';
import { freePort, waitUntil } from './sys.js';

const run = promisify(execFile);

/** The bench's own Redis Cluster: `masters` redis-servers on free ports, no replicas, no Docker. */
export interface BenchCluster {
  /** Every node's URL, comma-separated: REDIS_URL for tokencast with REDIS_CLUSTER=true. */
  url: string;
  pids: number[];
  /** One plain connection per node, for INFO. */
  admins: Redis[];
  stop(): Promise<void>;
}

function binary(name: string): string {
  try {
    return execFileSync('which', [name], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`the cluster benchmark needs ${name} on PATH (apt-get install -y redis-server redis-tools)`);
  }
}

export async function startCluster(masters: number, maxClients: number): Promise<BenchCluster> {
  const server = binary('redis-server');
  const cli = binary('redis-cli');
  const dir = mkdtempSync(join(tmpdir(), 'tokencast-bench-cluster-'));
  const procs: ChildProcess[] = [];
  const admins: Redis[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const a of admins.splice(0)) a.disconnect();
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
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      // The bus port defaults to port + 10000, which may be taken: pick one too.
      const bus = await freePort();
      ports.push(port);
      const args = ['--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes'];
      args.push('--cluster-config-file', `nodes-${port}.conf`, '--save', '', '--appendonly', 'no', '--maxclients', String(maxClients));
      const p = spawn(server, args, { stdio: 'ignore' });
      p.on('error', () => {});
      procs.push(p);
    }
    for (const port of ports) {
      const a = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
      a.on('error', () => {});
      admins.push(a);
      await waitUntil(
        `redis-server on ${port}`,
        async () => {
          try {
            if (a.status !== 'ready') await a.connect();
            return (await a.ping()) === 'PONG';
          } catch {
            return false;
          }
        },
        10_000,
      );
    }
    await run(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    for (const a of admins) {
      await waitUntil('cluster_state:ok', async () => /cluster_state:ok/.test(String(await a.cluster('INFO'))), 20_000, 100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','), pids: procs.map((p) => p.pid ?? 0), admins, stop };
}

/** The cluster as the scenarios see a Redis: INFO and CPU are summed over its masters. */
export function asBenchRedis(c: BenchCluster): BenchRedis {
  const nodes = c.admins.map((admin, i) => ({ admin, pid: c.pids[i] ?? 0 }));
  return { url: c.url, pid: c.pids[0] ?? 0, admin: c.admins[0] as Redis, nodes, cluster: true, notes: () => ({}), stop: () => c.stop() };
}
