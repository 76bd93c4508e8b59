import type { GenerationMeta } from '@tokencast/protocol';
import type { Job, JobQueue, QueueStats } from '../contracts.js';

interface PendingJob {
  job: Job;
  consumer: string;
  /** Epoch ms of its last delivery or touch. */
  lastSeen: number;
}

/**
 * One in-process job queue (redis/queue.ts's counterpart), same semantics as the Redis queue: a
 * job stays pending until acked, a silent consumer's jobs are reclaimed after minIdleMs, and
 * every hand-over counts a delivery.
 */
export class MemoryJobQueue implements JobQueue {
  private readonly waiting: Job[] = [];
  private readonly pending = new Map<string, PendingJob>();
  private readonly dead: { job: Job; reason: string }[] = [];
  private seq = 0;
  /** Wakes the take() calls blocked on an empty queue. */
  private readonly takers = new Set<() => void>();

  /** `create` stores the generation's meta, as the Redis queue writes the meta hash. */
  constructor(private readonly create: (meta: GenerationMeta) => void) {}

  async enqueue(meta: GenerationMeta): Promise<void> {
    this.create(meta);
    this.waiting.push({ jobId: `${Date.now()}-${this.seq++}`, generationId: meta.id, deliveries: 0 });
    for (const wake of this.takers) wake();
  }

  async take(consumer: string, count: number, blockMs: number): Promise<Job[]> {
    if (this.waiting.length === 0 && blockMs > 0) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.takers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, blockMs);
        this.takers.add(wake);
      });
    }
    const jobs = this.waiting.splice(0, count);
    for (const j of jobs) {
      j.deliveries += 1;
      this.pending.set(j.jobId, { job: j, consumer, lastSeen: Date.now() });
    }
    return jobs.map((j) => ({ ...j }));
  }

  async reclaim(consumer: string, minIdleMs: number, count: number): Promise<Job[]> {
    const now = Date.now();
    const out: Job[] = [];
    for (const p of this.pending.values()) {
      if (out.length >= count) break;
      if (now - p.lastSeen < minIdleMs) continue;
      p.job.deliveries += 1;
      p.consumer = consumer;
      p.lastSeen = now;
      out.push({ ...p.job });
    }
    return out;
  }

  async touch(consumer: string, jobIds: readonly string[]): Promise<void> {
    for (const id of jobIds) {
      const p = this.pending.get(id);
      if (p) {
        p.consumer = consumer;
        p.lastSeen = Date.now();
      }
    }
  }

  async ack(jobId: string): Promise<void> {
    this.pending.delete(jobId);
  }

  async deadLetter(job: Job, reason: string): Promise<void> {
    this.dead.push({ job, reason });
    this.pending.delete(job.jobId);
  }

  async stats(): Promise<QueueStats> {
    const byConsumer = new Map<string, { pending: number; lastSeen: number }>();
    for (const p of this.pending.values()) {
      const c = byConsumer.get(p.consumer) ?? { pending: 0, lastSeen: 0 };
      c.pending += 1;
      c.lastSeen = Math.max(c.lastSeen, p.lastSeen);
      byConsumer.set(p.consumer, c);
    }
    const now = Date.now();
    return {
      waiting: this.waiting.length,
      pending: this.pending.size,
      consumers: [...byConsumer].map(([name, c]) => ({ name, pending: c.pending, idleMs: now - c.lastSeen })),
    };
  }

  async close(): Promise<void> {
    for (const wake of [...this.takers]) wake();
  }
}
