import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './redis.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * A real Redis Cluster for tests: `masters` redis-server processes with cluster mode on, joined
 * by `redis-cli --cluster create` (no replicas), on free ports (client and bus) in a temp dir.
 */
export interface TestRedisCluster {
  /** Every node's URL, comma-separated: the REDIS_URL tokencast takes in cluster mode. */
  url: string;
  ports: number[];
  /** Environment that puts an edge or a producer on this cluster. */
  env: Record<string, string>;
  /** Port of the master serving `key` (asked with CLUSTER KEYSLOT and CLUSTER SHARDS). */
  masterOf(key: string): Promise<number>;
  /** The slot of `key` as the cluster computes it. */
  keySlot(key: string): Promise<number>;
  /** A plain connection to one node (closed by stop()). */
  node(port: number): Redis;
  /** A cluster client (closed by stop()). */
  client(): Cluster;
  stop(): Promise<void>;
}

interface Shard {
  port: number;
  ranges: [number, number][];
}

function binary(name: string): string {
  try {
    return execFileSync('which', [name], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`No ${name} for the Redis Cluster tests: install it (apt-get install -y redis-server redis-tools).`);
  }
}

export async function startRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const server = binary('redis-server');
  const cli = binary('redis-cli');
  const dir = mkdtempSync(join(tmpdir(), 'tokencast-redis-cluster-'));
  const procs: ChildProcess[] = [];
  const clients: { disconnect(): void }[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const c of clients.splice(0)) c.disconnect();
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
  const node = (port: number) => {
    const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };

  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      // The bus port defaults to port + 10000, which may be taken or out of range: pick it too.
      const busPort = await freePort();
      ports.push(port);
      const args = [
        '--port',
        String(port),
        '--cluster-port',
        String(busPort),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '3000',
        '--save',
        '',
        '--appendonly',
        'no',
      ];
      const p = spawn(server, args, { stdio: 'ignore' });
      p.on('error', () => {});
      procs.push(p);
    }
    for (const port of ports) await waitFor(`redis-server on port ${port} to start`, () => ping(port));
    await run(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    // Every node must agree before a test runs: state ok, all nodes known, every slot served.
    for (const port of ports) {
      await waitFor(`cluster node ${port} to reach cluster_state:ok`, async () => {
        // A node still starting refuses the connection: that is "not yet".
        const info = await oneShot(port, (c) => c.cluster('INFO')).catch(() => '');
        return /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(info) && /cluster_slots_ok:16384\b/.test(info);
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const admin = node(ports[0] as number);
  const shards = async (): Promise<Shard[]> => {
    const reply = (await admin.call('CLUSTER', 'SHARDS')) as unknown[];
    return reply.map((s) => {
      const fields = pairs(s as unknown[]);
      const flat = (fields.slots as (number | string)[]) ?? [];
      const ranges: [number, number][] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) ranges.push([Number(flat[i]), Number(flat[i + 1])]);
      const nodes = (fields.nodes as unknown[][]).map(pairs);
      const master = nodes.find((n) => n.role === 'master');
      return { port: Number(master?.port), ranges };
    });
  };
  const keySlot = async (key: string) => Number(await admin.cluster('KEYSLOT', key));
  const url = ports.map((p) => `redis://127.0.0.1:${p}`).join(',');
  return {
    url,
    ports,
    env: { REDIS_URL: url, REDIS_CLUSTER: '1' },
    keySlot,
    async masterOf(key) {
      const slot = await keySlot(key);
      const owner = (await shards()).find((s) => s.ranges.some(([a, b]) => slot >= a && slot <= b));
      if (!owner) throw new Error(`no master serves slot ${slot}`);
      return owner.port;
    },
    node,
    client() {
      const c = new Cluster(
        ports.map((port) => ({ host: '127.0.0.1', port })),
        { redisOptions: { maxRetriesPerRequest: 1 } },
      );
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    stop,
  };
}

function pairs(flat: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[String(flat[i])] = flat[i + 1];
  return o;
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
