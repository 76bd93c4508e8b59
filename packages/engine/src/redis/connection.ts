import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

export interface ConnectionOptions {
  url: string;
  /** Name shown by CLIENT LIST, so an operator can tell tokencast's connections apart. */
  name: string;
  /** ms before a (non-blocking) command fails; 0 disables. Never applied to blocking connections. */
  commandTimeoutMs?: number;
  /** Cluster: send the commands issued in one tick to each node as one pipeline (ioredis enableAutoPipelining). */
  autoPipelining?: boolean;
  /**
   * Never send a command over a later connection than the one it was issued on: neither re-send
   * the commands in flight after a reconnect, nor queue the ones issued while disconnected (they
   * fail at once). The appends' connection: a fast append sent after a reconnect could land on a
   * Redis that restarted without the events before it (store.ts); the writer retries it instead,
   * and that retry is careful. ioredis drops the promises of commands in flight at a drop without
   * settling them: the batcher rejects those itself (append-batch.ts abortInFlight).
   */
  noResend?: boolean;
}

/** Reconnect quickly at first, then every 2 s: an outage must not turn into a long blind spot. */
function retryStrategy(times: number): number {
  return Math.min(50 * 2 ** times, 2000);
}

/**
 * Connection for ordinary commands: fails fast when Redis is gone (a couple of retries, then the
 * request gets a 503), queues commands across a brief reconnect.
 */
export function commandConnection(opts: ConnectionOptions): Redis {
  const o: RedisOptions = {
    connectionName: opts.name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy,
    lazyConnect: false,
  };
  if (opts.commandTimeoutMs) o.commandTimeout = opts.commandTimeoutMs;
  if (opts.noResend) {
    o.autoResendUnfulfilledCommands = false;
    o.enableOfflineQueue = false;
  }
  return new Redis(opts.url, o);
}

/**
 * Connection for XREAD BLOCK / XREADGROUP BLOCK. No command timeout (it would fire on every quiet
 * BLOCK), retried forever, and never auto-resent after a reconnect: a re-sent blocking read has
 * been seen to hang (ioredis #1285), so the read loop re-issues it itself from its last id.
 */
export function blockingConnection(opts: ConnectionOptions): Redis {
  return new Redis(opts.url, {
    connectionName: opts.name,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResendUnfulfilledCommands: false,
    retryStrategy,
  });
}

/**
 * Redis Cluster. `url` lists seed nodes, comma-separated (`redis://h1:6379,redis://h2:6379`);
 * ioredis discovers the others. Credentials and TLS (`rediss://`) come from the first seed.
 */
export interface ClusterSeeds {
  nodes: { host: string; port: number }[];
  auth: Pick<RedisOptions, 'username' | 'password' | 'tls'>;
}

/** Throws an Error saying what is wrong with the list (the engine config reports it as a ConfigError). */
export function clusterSeeds(urls: string): ClusterSeeds {
  const list = urls
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  if (list.length === 0) throw new Error('REDIS_URL must name at least one cluster node');
  const nodes: ClusterSeeds['nodes'] = [];
  let auth: ClusterSeeds['auth'] | null = null;
  for (const raw of list) {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new Error(`REDIS_URL: ${JSON.stringify(raw)} is not a URL (expected redis://host:port)`);
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`REDIS_URL: ${JSON.stringify(raw)} must start with redis:// or rediss://`);
    // A cluster has only database 0: a URL naming another one is a mistake, not a preference.
    if (u.pathname !== '' && u.pathname !== '/' && u.pathname !== '/0') throw new Error(`REDIS_URL: a Redis Cluster has only database 0, got ${JSON.stringify(raw)}`);
    nodes.push({ host: u.hostname, port: u.port ? Number(u.port) : 6379 });
    if (!auth) {
      auth = {};
      if (u.username) auth.username = decodeURIComponent(u.username);
      if (u.password) auth.password = decodeURIComponent(u.password);
      if (u.protocol === 'rediss:') auth.tls = {};
    }
  }
  return { nodes, auth: auth ?? {} };
}

function cluster(urls: string, redisOptions: NonNullable<ClusterOptions['redisOptions']>, autoPipelining = false): Cluster {
  const seeds = clusterSeeds(urls);
  return new Cluster(seeds.nodes, {
    enableAutoPipelining: autoPipelining,
    redisOptions: { ...seeds.auth, ...redisOptions },
    // Masters only: a replica lags, and a reader must see what the writer it follows just wrote.
    scaleReads: 'master',
    enableOfflineQueue: true,
    clusterRetryStrategy: retryStrategy,
    slotsRefreshTimeout: 2_000,
  });
}

/** Redis Cluster counterpart of commandConnection: one connection per node, routed by slot. */
export function commandCluster(opts: ConnectionOptions): Cluster {
  const o: NonNullable<ClusterOptions['redisOptions']> = { connectionName: opts.name, maxRetriesPerRequest: 2 };
  if (opts.commandTimeoutMs) o.commandTimeout = opts.commandTimeoutMs;
  return cluster(opts.url, o, opts.autoPipelining === true);
}

/** Redis Cluster counterpart of blockingConnection (for XREADGROUP BLOCK and SUBSCRIBE). */
export function blockingCluster(opts: ConnectionOptions): Cluster {
  return cluster(opts.url, { connectionName: opts.name, maxRetriesPerRequest: null, autoResendUnfulfilledCommands: false });
}

/**
 * A connection to one node of a Redis Cluster (a doorbell shard's subscription, cluster-tail.ts),
 * with the seeds' credentials and TLS. Not connected until connect(), and never reconnected by
 * ioredis: what it serves moves with its slot, so its owner opens the next one where the slot is.
 */
export function nodeConnection(opts: ConnectionOptions, host: string, port: number): Redis {
  return new Redis({
    ...clusterSeeds(opts.url).auth,
    host,
    port,
    connectionName: opts.name,
    lazyConnect: true,
    maxRetriesPerRequest: null,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => null,
  });
}
