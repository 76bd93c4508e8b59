import { Cluster, Redis } from 'ioredis';
import { startClusterNodes } from '../../bench/src/redis-cluster.js';

/**
 * A real Redis Cluster for tests: `masters` redis-server processes with cluster mode on, joined
 * by `redis-cli --cluster create` (no replicas), on free ports (client and bus) in a temp dir,
 * started as the bench starts its own (bench/src/redis-cluster.ts).
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

export async function startRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const started = await startClusterNodes({
    masters,
    args: ['--cluster-node-timeout', '3000'],
    missing: (name) => `No ${name} for the Redis Cluster tests: install it (apt-get install -y redis-server redis-tools).`,
    dirPrefix: 'tokencast-redis-cluster-',
  });
  const { ports } = started;
  const clients: { disconnect(): void }[] = [];
  const stop = async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await started.stop();
  };
  const node = (port: number) => {
    const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };

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
