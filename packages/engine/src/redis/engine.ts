import { randomBytes } from 'node:crypto';
import { TokencastError } from '@tokencast/protocol';
import type { Cluster, Redis } from 'ioredis';
import type { Engine, TailListener } from '../contracts.js';
import { ConfigError, isOutOfMemory, StoreFullError, StoreUnavailableError } from '../errors.js';
import { RedisKeyStore, RedisLimiter, RedisPresence } from './access.js';
import { formatRing, type RingContent } from './bell.js';
import { ClusterTail, keySlot } from './cluster-tail.js';
import { blockingCluster, blockingConnection, commandCluster, commandConnection, nodeConnection } from './connection.js';
import { RedisDurableStore } from './durable.js';
import { Keys } from './keys.js';
import { RedisJobQueue } from './queue.js';
import { type ScriptedRedis, withScripts } from './scripts.js';
import { RedisGenerationStore } from './store.js';

export interface RedisEngineOptions {
  /** redis://… of one server; with `cluster`, seed nodes of a Redis Cluster, comma-separated. */
  url: string;
  /** Talk to a Redis Cluster (commands routed by slot, the doorbell-sharded ClusterTail). Default false. */
  cluster?: boolean;
  /**
   * Cluster only: doorbell shards (cluster-tail.ts). Each edge holds one blocking connection per
   * shard; every writer and edge of a deployment must use the same number. Default 8.
   */
  clusterBells?: number;
  /** Accept an eviction policy other than noeviction (Redis may then delete live generations). */
  allowEviction?: boolean;
  /** Key prefix; every key tokencast writes starts with `<prefix>:`. */
  prefix?: string;
  /** How long a generation's stream and meta live after their last write, in seconds. */
  ttlSeconds?: number;
  /** Name for CLIENT LIST (role of the process). */
  name?: string;
  /** BLOCK of the tail's and the queue's blocking reads, ms. */
  blockMs?: number;
  /** How long past BLOCK a blocking read may run before its connection is recycled, ms. */
  watchdogMarginMs?: number;
  /** ms before an ordinary command fails (0: never). */
  commandTimeoutMs?: number;
  /**
   * Least time between two flushes of appends, ms (append-batch.ts: throttled, so a lone append
   * is not delayed). 0 (the default here; the processes' REDIS_APPEND_BATCH_MS defaults to 5):
   * a flush every turn of the event loop, carrying whatever was written in that turn.
   */
  appendBatchMs?: number;
}

export function createRedisEngine(o: RedisEngineOptions): Engine {
  const name = o.name ?? 'tokencast';
  const keys = new Keys(o.prefix ?? 'tc');
  const ttl = o.ttlSeconds ?? 86_400;
  const blockMs = o.blockMs ?? 5_000;
  const margin = o.watchdogMarginMs ?? 5_000;
  const commandTimeoutMs = o.commandTimeoutMs ?? 5_000;
  const cluster = o.cluster === true;
  const cmd = withScripts(cluster ? asRedis(commandCluster({ url: o.url, name, commandTimeoutMs })) : commandConnection({ url: o.url, name, commandTimeoutMs }));
  // ioredis reconnects by itself and failed commands reject where they were issued: connection
  // events are only counted, for the reconnect and error metrics.
  const health = { reconnects: 0, errors: 0 };
  const watch = (c: { on(ev: string, fn: () => void): unknown }) => {
    c.on('error', () => {
      health.errors += 1;
    });
    c.on('reconnecting', () => {
      health.reconnects += 1;
    });
  };
  watch(cmd);
  const blocking: Array<{ disconnect(reconnect?: boolean): void }> = [];
  const makeBlocking = (role: string) => {
    const c = cluster ? asRedis(blockingCluster({ url: o.url, name: `${name}:${role}` })) : blockingConnection({ url: o.url, name: `${name}:${role}` });
    watch(c);
    blocking.push(c);
    return c;
  };
  const bells = o.clusterBells ?? 8;
  // Cluster: the reads of news never block, so the watchdog margin serves as their command
  // timeout; auto-pipelining sends the per-slot XREADs of one wake to each node together.
  const openClusterTail = (onEvents: TailListener) => {
    const c = commandCluster({ url: o.url, name: `${name}:tail`, commandTimeoutMs: margin, autoPipelining: true });
    blocking.push(c);
    const openNode = (host: string, port: number, role: string) => nodeConnection({ url: o.url, name: `${name}:${role}` }, host, port);
    return new ClusterTail(c, openNode, keys, onEvents, { count: 512, blockMs, watchdogMarginMs: margin, bells });
  };
  // Cluster: the doorbell shards are sharded channels on other slots than the generations: rung
  // after the write, one ring in flight at a time. What is written meanwhile waits for it and
  // goes together in the next, so a busy writer sends few, fuller rings (self-clocking, like the
  // append batches). A ring carries the events (bell.ts; readers deliver them without reading the
  // streams) and the ids of generations whose events were too big to carry. Every reader
  // subscribes to every shard, so this process rings one shard only, its own (picked at random:
  // writers spread over the shards): one ring per flush, not one per shard it touched. Rings are
  // numbered as on one Redis, so a reader notices one that failed to go out.
  const ownBell = keys.bellShard(Math.floor(Math.random() * bells));
  const ringWriter = randomBytes(9).toString('base64url');
  let rings = 0;
  let pending: RingContent | null = null;
  let ringing = false;
  const ringNext = (): void => {
    const next = pending;
    if (!next || ringing) return;
    pending = null;
    ringing = true;
    rings += 1;
    cmd
      .spublish(ownBell, formatRing({ ...next, writer: ringWriter, n: rings }))
      .catch(() => {}) // a lost ring costs latency, not events: readers sweep
      .finally(() => {
        ringing = false;
        ringNext();
      });
  };
  const ring = async (written: RingContent) => {
    if (!pending) pending = { events: [], named: [] };
    for (const id of written.named) if (!pending.named.includes(id)) pending.named.push(id);
    for (const ev of written.events) pending.events.push(ev);
    ringNext();
  };
  // One Redis: appends have their own connection (append-batch.ts), which never sends a command
  // over a later connection than the one it was issued on, so a fast append cannot land on a
  // Redis that restarted without the events before it (every writer's next append is careful
  // then). A Redis Cluster: fast appends go straight to the master's connection of the cluster
  // client (nodeFor), which never reconnects (ioredis makes a new one), so nothing is re-sent;
  // any node connection that closes counts as a drop (below).
  const writer = cluster ? cmd : withScripts(commandConnection({ url: o.url, name: `${name}:writer`, commandTimeoutMs, noResend: true }));
  if (writer !== cmd) {
    watch(writer);
    blocking.push(writer);
  }
  const store = new RedisGenerationStore(cmd, writer, makeBlocking, keys, {
    ttlSeconds: ttl,
    batch: {
      windowMs: o.appendBatchMs ?? 0,
      maxPerCall: 256,
      cluster,
      bellChannel: cluster ? null : keys.bell,
      ring: cluster ? ring : null,
      ...(cluster ? { nodeFor: (key: string) => masterOf(cmd as unknown as Cluster, key) } : {}),
    },
    // A quarter of the TTL at most, so a generation never expires between two checkpoints; a
    // minute otherwise (a checkpoint is a script call: at 20 tokens/s one every 5 s cost Redis
    // about 1 µs per token). getMeta's read past last_offset stays short by the event bound
    // (store.ts CHECKPOINT_EVENTS), whatever the time.
    checkpointMs: Math.min(60_000, (ttl * 1000) / 4),
    tail: { blockMs, watchdogMarginMs: margin, count: 512 },
    ...(cluster ? { openTail: openClusterTail } : {}),
  });
  if (writer !== cmd) writer.on('close', () => store.connectionLost());
  else if (cluster) (cmd as unknown as Cluster).on('+node', (node: Redis) => node.on('close', () => store.connectionLost()));
  const queues = new Map<string, ReturnType<typeof asUnavailable<RedisJobQueue>>>();
  const queueFor = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      q = asUnavailable(new RedisJobQueue(cmd, () => makeBlocking(`queue:${name}`), keys, ttl, margin, name, !cluster));
      queues.set(name, q);
    }
    return q;
  };
  const queue = queueFor('default');
  return {
    kind: 'redis',
    store: asUnavailable(store),
    queue,
    queueFor,
    keys: asUnavailable(new RedisKeyStore(cmd, keys)),
    limiter: asUnavailable(new RedisLimiter(cmd, keys)),
    presence: asUnavailable(new RedisPresence(cmd, keys)),
    health,
    durable: asUnavailable(new RedisDurableStore(cmd, () => makeBlocking('durable'), keys)),
    async preflight() {
      await checkVersion(cmd);
      return checkEvictionPolicy(cmd, o.allowEviction === true);
    },
    async ping() {
      try {
        // Bounded: a Redis Cluster client keeps commands queued while no node answers.
        await withTimeout(cmd.ping(), commandTimeoutMs || 5_000);
      } catch (err) {
        throw new StoreUnavailableError(err);
      }
    },
    async close() {
      for (const q of queues.values()) await q.close();
      await store.close();
      for (const c of blocking) c.disconnect(false);
      cmd.disconnect(false);
    },
  };
}

/**
 * Every Redis-backed part here (store, queue, scripts, access) uses only what ioredis' Redis and Cluster share (the
 * command methods, pipeline/multi, call, defineCommand, pub/sub, events, disconnect), and Cluster
 * routes each command by its key's slot. The one Redis-only use, CLIENT ID/UNBLOCK in RedisTail,
 * never happens in cluster mode: the ClusterTail replaces RedisTail there.
 */
function asRedis(c: Cluster): Redis {
  return c as unknown as Redis;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Any failure that is not one of ours (connection closed, retries exhausted, timeout) means the
 * store cannot be reached right now: callers see one typed StoreUnavailableError (a 503).
 */
function asUnavailable<T extends object>(target: T): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const out = (value as (...a: unknown[]) => unknown).apply(t, args);
        if (!(out instanceof Promise)) return out;
        return out.catch((err: unknown) => {
          if (err instanceof TokencastError) throw err;
          throw isOutOfMemory(err) ? new StoreFullError(err) : new StoreUnavailableError(err);
        });
      };
    },
  });
}

/**
 * Eviction deletes whole streams: with allkeys-* a live generation can vanish mid-stream, and
 * with volatile-* so can ours, since every tokencast key carries a TTL. Only noeviction is safe.
 */
/** Oldest Redis tokencast runs on: the cluster's doorbell shards are sharded channels (SPUBLISH, Redis 7.0). */
export const MIN_REDIS_VERSION = [7, 0] as const;

/**
 * The cluster's doorbell shards are sharded channels (SPUBLISH and SSUBSCRIBE arrived in Redis
 * 7.0), and a claim moves a stream's last id with XSETID's 7.0 form. Refuse to start instead of
 * failing the first claim or ring.
 */
async function checkVersion(cmd: { info(section: 'server'): Promise<string> }): Promise<void> {
  let info: string;
  try {
    info = await cmd.info('server');
  } catch {
    return; // unreadable here (a restricted INFO): the first append will say so
  }
  const m = /redis_version:(\d+)\.(\d+)/.exec(info);
  if (!m) return;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const [needMajor, needMinor] = MIN_REDIS_VERSION;
  if (major < needMajor || (major === needMajor && minor < needMinor)) {
    throw new ConfigError(`Redis ${m[1]}.${m[2]} is too old: tokencast needs Redis ${needMajor}.${needMinor} or newer (it uses XSETID and sharded pub/sub)`);
  }
}

async function checkEvictionPolicy(cmd: { config(op: 'GET', name: string): Promise<unknown> }, allow: boolean): Promise<string[]> {
  let policy: string | undefined;
  try {
    const reply = (await cmd.config('GET', 'maxmemory-policy')) as string[];
    policy = reply[1];
  } catch (err) {
    return [`cannot read maxmemory-policy (${(err as Error).message}): make sure it is noeviction, or Redis may delete live generations`];
  }
  if (policy === undefined || policy === 'noeviction') return [];
  const why = `Redis maxmemory-policy is ${policy}: under memory pressure Redis would delete generations (streams and metadata) while clients read them`;
  if (!allow) throw new ConfigError(`${why}. Set it to noeviction (CONFIG SET maxmemory-policy noeviction), or set REDIS_ALLOW_EVICTION=true to accept the risk.`);
  return [`${why}; running anyway because REDIS_ALLOW_EVICTION=true`];
}

/**
 * The cluster client's connection to the master serving `key`'s slot, when it is connected; null
 * otherwise (the append then goes careful, through the client). ioredis keeps the slot map and
 * the node connections (`slots`, `connectionPool`) without typing them: read, never changed; a
 * release without them sends every append careful, as before issue #13's cluster fast path.
 */
function masterOf(c: Cluster, key: string): ScriptedRedis | null {
  const inner = c as unknown as { slots?: (string[] | undefined)[]; connectionPool?: { getInstanceByKey?(k: string): Redis | undefined } };
  const nodeKey = inner.slots?.[keySlot(key)]?.[0];
  if (nodeKey === undefined) return null;
  const node = inner.connectionPool?.getInstanceByKey?.(nodeKey);
  return node && node.status === 'ready' ? (node as ScriptedRedis) : null;
}
