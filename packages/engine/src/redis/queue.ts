import type { GenerationMeta } from '@tokencast/protocol';
import type { Redis } from 'ioredis';
import type { Job, JobQueue, QueueStats } from '../contracts.js';
import { metaToHash } from './codec.js';
import { guardedRead } from './guarded-read.js';
import { type Keys, PRODUCER_GROUP } from './keys.js';

type Entry = [id: string, fields: string[]];
type XReadGroupReply = [key: string, entries: Entry[]][] | null;

/** Generations kept in the `recent` index for listing; older ids fall off. */
const RECENT_KEEP = 10_000;

/**
 * Acks wait this long, ms, to go out together: one XACK and one XDEL for every job acked
 * meanwhile, where each job cost a round trip of its own (issue #13: at 600 generations of 10 s
 * about 60 end a second). A late ack delays nothing: the job stays pending a little longer, and
 * a reclaim of it finds the generation ended (claim answers so) and acks it.
 */
const ACK_BATCH_MS = 50;
/** Most jobs in one batch of acks. */
const ACK_BATCH_MAX = 500;

/**
 * Redis Cluster: new generations wait this long, ms, to go into the `recent` index together (the
 * index lives on a slot of its own, so each went in with a round trip of its own). Listing lags
 * by as much; an edge that dies meanwhile leaves those out of the listing (the generations
 * themselves are stored and queued: only the index misses them).
 */
const RECENT_BATCH_MS = 50;

/** Acks gathered for one pipeline, and the promise every one of their callers waits on. */
interface AckBatch {
  ids: string[];
  done: Promise<void>;
  settle: (err?: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * The job queue: one Redis Stream read by the consumer group "producers". A job stays pending
 * until acked, so a crashed producer's jobs are reclaimed by XAUTOCLAIM; a running producer keeps
 * its jobs fresh with XCLAIM … JUSTID (touch), which resets idle time without counting a delivery.
 */
export class RedisJobQueue implements JobQueue {
  private group: Promise<void> | null = null;
  private blocking: Redis | null = null;
  private acks: AckBatch | null = null;
  /** Redis Cluster: `recent` entries (score, id, …) waiting for RECENT_BATCH_MS. */
  private recentBatch: (number | string)[] = [];
  private recentTimer: NodeJS.Timeout | null = null;

  /** This queue's stream key (see Keys.queueNamed). */
  private readonly key: string;

  constructor(
    private readonly cmd: Redis,
    private readonly makeBlocking: () => Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
    private readonly watchdogMarginMs: number,
    name = 'default',
    /** One Redis (not a Cluster): the meta, the job and the index go in one transaction. */
    private readonly atomic = false,
  ) {
    this.key = keys.queueNamed(name);
  }

  async enqueue(meta: GenerationMeta): Promise<void> {
    const metaKey = this.keys.meta(meta.id);
    if (this.atomic) {
      // One Redis: all or nothing, so an edge killed mid-enqueue (or a Redis restart) never
      // leaves a queued meta without its job (the chaos suite found one).
      await this.ensureGroup();
      const replies = await this.cmd
        .multi()
        .hset(metaKey, metaToHash(meta))
        .expire(metaKey, this.ttlSeconds)
        .xadd(this.key, '*', 'g', meta.id)
        .zadd(this.keys.recent, meta.createdAt, meta.id)
        .zremrangebyrank(this.keys.recent, 0, -RECENT_KEEP - 1)
        .exec()
        .catch((err: unknown) => {
          // EXECABORT: a command was refused while queued (OOM under noeviction): that is the error.
          throw (err as { previousErrors?: unknown[] }).previousErrors?.[0] ?? err;
        });
      const failed = replies?.find(([err]) => err !== null)?.[0];
      if (!replies || failed) throw failed ?? new Error('the enqueue transaction was discarded');
      return;
    }
    // Redis Cluster: meta first: a producer that takes the job must find it. Not one transaction (the queue and
    // the generation live on different cluster slots); a meta without a job expires with its TTL.
    await this.cmd.multi().hset(metaKey, metaToHash(meta)).expire(metaKey, this.ttlSeconds).exec();
    await this.ensureGroup();
    // The queue and the index may sit on different nodes: the XADD stands alone, so that its
    // failure fails enqueue, and the index entry goes with others (RECENT_BATCH_MS).
    await this.cmd.xadd(this.key, '*', 'g', meta.id);
    this.recentBatch.push(meta.createdAt, meta.id);
    this.recentTimer ??= setTimeout(() => this.flushRecent(), RECENT_BATCH_MS);
  }

  /** Redis Cluster: the gathered `recent` entries in one ZADD, and the index trimmed once. */
  private flushRecent(): Promise<unknown> {
    if (this.recentTimer) clearTimeout(this.recentTimer);
    this.recentTimer = null;
    const entries = this.recentBatch;
    this.recentBatch = [];
    if (entries.length === 0) return Promise.resolve();
    return this.cmd
      .pipeline()
      .zadd(this.keys.recent, ...entries)
      .zremrangebyrank(this.keys.recent, 0, -RECENT_KEEP - 1)
      .exec()
      .catch(() => {}); // a listing without them; the generations are stored and queued
  }

  async take(consumer: string, count: number, blockMs: number): Promise<Job[]> {
    await this.ensureGroup();
    this.blocking ??= this.makeBlocking();
    const conn = this.blocking;
    const args = ['GROUP', PRODUCER_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.key, '>'];
    let reply: XReadGroupReply;
    try {
      reply = (await guardedRead(conn, () => conn.call('XREADGROUP', ...args) as Promise<XReadGroupReply>, blockMs, this.watchdogMarginMs)) as XReadGroupReply;
    } catch (err) {
      this.forgetGroupOnNoGroup(err);
      throw err;
    }
    if (!reply) return [];
    return (reply[0]?.[1] ?? []).map((e) => toJob(e, 1)).filter((j): j is Job => j !== null);
  }

  async reclaim(consumer: string, minIdleMs: number, count: number): Promise<Job[]> {
    await this.ensureGroup();
    const entries: Entry[] = [];
    // One XAUTOCLAIM looks at only about COUNT×10 pending entries: follow its cursor through the
    // whole pending list, or an idle job queued behind many busy ones waits until they finish.
    let cursor = '0-0';
    for (let calls = 0; calls < 1_000 && entries.length < count; calls++) {
      let res: [string, Entry[], string[]];
      try {
        res = (await this.cmd.xautoclaim(this.key, PRODUCER_GROUP, consumer, minIdleMs, cursor, 'COUNT', count - entries.length)) as [string, Entry[], string[]];
      } catch (err) {
        this.forgetGroupOnNoGroup(err);
        throw err;
      }
      const [next, claimed, deleted] = res;
      // Pending ids whose entries were deleted carry no job any more: acknowledge them away.
      if (deleted.length > 0) await this.cmd.xack(this.key, PRODUCER_GROUP, ...deleted);
      entries.push(...claimed);
      cursor = next;
      if (cursor === '0-0') break;
    }
    if (entries.length === 0) return [];
    // XAUTOCLAIM counted a delivery for each; read each one's count to spot jobs that keep killing workers.
    const pipe = this.cmd.pipeline();
    for (const [id] of entries) pipe.xpending(this.key, PRODUCER_GROUP, id, id, 1);
    const replies = (await pipe.exec()) ?? [];
    const deliveries = new Map<string, number>();
    for (const [err, rows] of replies) {
      const row = !err && Array.isArray(rows) ? (rows[0] as [string, string, number, number] | undefined) : undefined;
      if (row) deliveries.set(row[0], Number(row[3]));
    }
    return entries.map((e) => toJob(e, deliveries.get(e[0]) ?? 1)).filter((j): j is Job => j !== null);
  }

  async touch(consumer: string, jobIds: readonly string[]): Promise<void> {
    if (jobIds.length === 0) return;
    await this.cmd.xclaim(this.key, PRODUCER_GROUP, consumer, 0, ...jobIds, 'JUSTID');
  }

  /** Resolves once the ack is sent and answered, with those of other jobs (ACK_BATCH_MS). */
  ack(jobId: string): Promise<void> {
    let batch = this.acks;
    if (!batch) {
      let settle: AckBatch['settle'] = () => {};
      const done = new Promise<void>((resolve, reject) => {
        settle = (err) => (err === undefined ? resolve() : reject(err));
      });
      batch = { ids: [], done, settle, timer: setTimeout(() => void this.flushAcks(), ACK_BATCH_MS) };
      this.acks = batch;
    }
    batch.ids.push(jobId);
    if (batch.ids.length >= ACK_BATCH_MAX) void this.flushAcks();
    return batch.done;
  }

  /** Sends the gathered acks: acked jobs are deleted too, so the queue holds only work waiting or in flight. */
  private async flushAcks(): Promise<void> {
    const batch = this.acks;
    if (!batch) return;
    this.acks = null;
    clearTimeout(batch.timer);
    try {
      await this.cmd
        .pipeline()
        .xack(this.key, PRODUCER_GROUP, ...batch.ids)
        .xdel(this.key, ...batch.ids)
        .exec();
      batch.settle();
    } catch (err) {
      batch.settle(err);
    }
  }

  async deadLetter(job: Job, reason: string): Promise<void> {
    await this.cmd.xadd(this.keys.dead, 'MAXLEN', '~', 10_000, '*', 'g', job.generationId, 'deliveries', job.deliveries, 'reason', reason);
    await this.ack(job.jobId);
  }

  async stats(): Promise<QueueStats> {
    await this.ensureGroup();
    const groups = (await this.cmd.xinfo('GROUPS', this.key)) as (string | number)[][];
    const g = groups.map(pairs).find((x) => x.name === PRODUCER_GROUP);
    const consumers = ((await this.cmd.xinfo('CONSUMERS', this.key, PRODUCER_GROUP)) as (string | number)[][]).map(pairs);
    return {
      waiting: Number(g?.lag ?? 0),
      pending: Number(g?.pending ?? 0),
      consumers: consumers.map((c) => ({ name: String(c.name), pending: Number(c.pending), idleMs: Number(c.idle) })),
    };
  }

  async close(): Promise<void> {
    // Never rejects (a failed batch rejects its callers); unsent, the jobs are reclaimed and found ended.
    await this.flushAcks();
    await this.flushRecent();
    this.blocking?.disconnect(false);
    this.blocking = null;
  }

  private ensureGroup(): Promise<void> {
    this.group ??= this.cmd.xgroup('CREATE', this.key, PRODUCER_GROUP, '0', 'MKSTREAM').then(
      () => undefined,
      (err: Error) => {
        if (/BUSYGROUP/.test(err.message)) return;
        this.group = null;
        throw err;
      },
    );
    return this.group;
  }

  /** The queue key vanished (a Redis restart without persistence): create the group again. */
  private forgetGroupOnNoGroup(err: unknown): void {
    if (err instanceof Error && /NOGROUP/.test(err.message)) this.group = null;
  }
}

function toJob([jobId, fields]: Entry, deliveries: number): Job | null {
  const i = fields.indexOf('g');
  const generationId = i >= 0 ? fields[i + 1] : undefined;
  return generationId ? { jobId, generationId, deliveries } : null;
}

function pairs(flat: (string | number)[]): Record<string, string | number> {
  const o: Record<string, string | number> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[String(flat[i])] = flat[i + 1] as string | number;
  return o;
}
