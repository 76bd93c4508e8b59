import type { JobQueue, Limiter } from '@tokencast/engine';
import { RateLimitError, ServiceUnavailableError } from '@tokencast/protocol';

/** Every limit; 0 turns one off. */
export interface LimitsConfig {
  /** Requests per minute per key (per client address when keys are off), shared across edges. */
  requestsPerMinute: number;
  /** Open streams (SSE responses and WebSocket subscriptions) per key, per edge. */
  streamsPerKey: number;
  /** Open streams per client address, per edge. */
  streamsPerIp: number;
  /** Jobs waiting in the queue above which new generations are refused with 503. */
  maxQueueDepth: number;
}

/** How long a queue depth reading is reused: one XINFO per burst of requests, not per request. */
const QUEUE_DEPTH_CACHE_MS = 250;

/**
 * Bounds what one client can cost. Stream counts are per edge (cheap, exact, released when the
 * stream closes); the request rate is counted in the engine so every edge sees the same number.
 */
export class Limits {
  private readonly perKey = new Map<string, number>();
  private readonly perIp = new Map<string, number>();
  /** Last depth reading per queue. */
  private readonly depths = new Map<JobQueue, { value: number; at: number }>();

  constructor(
    private readonly limiter: Limiter,
    private readonly queue: JobQueue,
    private readonly cfg: LimitsConfig,
  ) {}

  async checkRate(subject: string): Promise<void> {
    if (this.cfg.requestsPerMinute <= 0) return;
    const { count, resetMs } = await this.limiter.hit(subject, 60_000);
    if (count > this.cfg.requestsPerMinute) {
      throw new RateLimitError(`Rate limit reached: ${this.cfg.requestsPerMinute} requests per minute`, 'rate_limit_exceeded', Math.max(1, Math.ceil(resetMs / 1000)));
    }
  }

  /** `queue`: the queue the new job would go to; default: the default queue. */
  async checkQueue(queue: JobQueue = this.queue): Promise<void> {
    if (this.cfg.maxQueueDepth <= 0) return;
    const now = Date.now();
    let depth = this.depths.get(queue);
    if (!depth || now - depth.at >= QUEUE_DEPTH_CACHE_MS) {
      depth = { value: (await queue.stats()).waiting, at: now };
      this.depths.set(queue, depth);
    }
    if (depth.value >= this.cfg.maxQueueDepth) {
      throw new ServiceUnavailableError('The queue is full; retry shortly', 'queue_full', 2);
    }
    depth.value += 1; // count our own job until the next reading
  }

  /** Take a stream slot (key null: not counted per key); the returned function gives it back. */
  openStream(key: string | null, ip: string): () => void {
    const k = key === null ? () => {} : this.take(this.perKey, key, this.cfg.streamsPerKey, 'too many open streams for this key');
    try {
      this.take(this.perIp, ip, this.cfg.streamsPerIp, 'too many open streams from this address');
    } catch (err) {
      k();
      throw err;
    }
    const i = () => this.give(this.perIp, ip);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      k();
      i();
    };
  }

  private take(map: Map<string, number>, subject: string, limit: number, message: string): () => void {
    if (limit <= 0) return () => {};
    const n = map.get(subject) ?? 0;
    if (n >= limit) throw new RateLimitError(`${message} (at most ${limit})`, 'too_many_streams', 1);
    map.set(subject, n + 1);
    return () => this.give(map, subject);
  }

  private give(map: Map<string, number>, subject: string): void {
    const n = (map.get(subject) ?? 1) - 1;
    if (n <= 0) map.delete(subject);
    else map.set(subject, n);
  }
}
