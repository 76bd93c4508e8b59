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
 * The job queue: one Redis Stream read by the consumer group "producers". A job stays pending
 * until acked, so a crashed producer's jobs are reclaimed by XAUTOCLAIM; a running producer keeps
 * its jobs fresh with XCLAIM … JUSTID (touch), which resets idle time without counting a delivery.
 */
export class RedisJobQueue implements JobQueue {
  private group: Promise<void> | null = null;
  private blocking: Redis | null = null;

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
    // Not one pipeline: on a Redis Cluster the queue and the index may sit on different nodes,
    // and a pipeline goes to one node. The XADD stands alone so that its failure fails enqueue.
    await Promise.all([
      this.cmd.xadd(this.key, '*', 'g', meta.id),
      this.cmd
        .pipeline()
        .zadd(this.keys.recent, meta.createdAt, meta.id)
        .zremrangebyrank(this.keys.recent, 0, -RECENT_KEEP - 1)
        .exec(),
    ]);
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

  async ack(jobId: string): Promise<void> {
    // Acked jobs are deleted too: the queue holds only work that is waiting or in flight.
    await this.cmd.pipeline().xack(this.key, PRODUCER_GROUP, jobId).xdel(this.key, jobId).exec();
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
