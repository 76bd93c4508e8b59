import calculateSlot from 'cluster-key-slot';
import { EndedError, FencedError, MissingGenerationError, OffsetMismatchError } from '../errors.js';
import type { ScriptArg, ScriptedRedis } from './scripts.js';

/** append.lua's error codes (its header lists them), mapped to typed errors: no message matching. */
const APPEND_ERRORS: Record<number, (id: string) => Error> = {
  [-1]: (id) => new MissingGenerationError(id),
  [-2]: (id) => new FencedError(id),
  [-3]: (id) => new EndedError(id),
  [-4]: (id) => new OffsetMismatchError(id),
};

/** One generation's append, as append.lua takes it. */
export interface PendingAppend {
  id: string;
  eventsKey: string;
  metaKey: string;
  /** The generation's ARGV items (7 header items, then its events). */
  args: ScriptArg[];
  resolve(lastOffset: number): void;
  reject(err: unknown): void;
}

export interface AppendBatchOptions {
  /**
   * How long the first append of a batch waits for others, ms. 0: until the end of the current
   * turn of the event loop (setImmediate), which already gathers every append that the
   * producer's timers and sockets issued in that turn, at no added latency worth measuring.
   */
  windowMs: number;
  /** Most generations in one script call: bounds how long one call holds Redis. */
  maxPerCall: number;
  /** Redis Cluster: a call may only name keys of one slot, so batches are split per slot. */
  cluster: boolean;
  /**
   * One Redis: the doorbell stream append.lua rings with the ids it wrote (tail.ts blocks on it).
   * null on a Redis Cluster, where the bell lives on another slot than the generations.
   */
  bellKey: string | null;
  /**
   * Redis Cluster: rings the doorbell shards (cluster-tail.ts) with the ids a flush wrote, once
   * every call of the flush has answered (so a reader woken by the bell finds the events).
   */
  ring: ((written: string[]) => Promise<unknown>) | null;
}

/**
 * Gathers appends to many generations into few append.lua calls (issue #13): Redis pays its
 * per-call cost (parsing, the script's set-up, the reply and the socket write) once per batch
 * instead of once per token. Appends of one generation keep their order (one array, one call
 * per slot, handled in order by the script).
 */
export class AppendBatcher {
  private queue: PendingAppend[] = [];
  private scheduled = false;

  constructor(
    private readonly cmd: ScriptedRedis,
    private readonly opts: AppendBatchOptions,
  ) {}

  push(p: PendingAppend): void {
    if (this.opts.cluster) {
      // A call may only name one slot, and generations rarely share one: there is nothing to
      // gather, so send at once (measured: waiting for the turn's end only added latency).
      const ring = this.opts.ring;
      void this.send([p]).then((written) => {
        if (ring && written.length > 0) ring(written).catch(() => {}); // a lost ring costs latency, not events: readers sweep
      });
      return;
    }
    this.queue.push(p);
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.opts.windowMs > 0) setTimeout(() => this.flush(), this.opts.windowMs);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const all = this.queue;
    this.queue = [];
    if (!this.opts.cluster) {
      for (let i = 0; i < all.length; i += this.opts.maxPerCall) void this.send(all.slice(i, i + this.opts.maxPerCall));
      return;
    }
    const bySlot = new Map<number, PendingAppend[]>();
    for (const p of all) {
      const slot = calculateSlot(p.metaKey);
      const list = bySlot.get(slot);
      if (list) list.push(p);
      else bySlot.set(slot, [p]);
    }
    const calls: Promise<string[]>[] = [];
    for (const list of bySlot.values()) {
      for (let i = 0; i < list.length; i += this.opts.maxPerCall) calls.push(this.send(list.slice(i, i + this.opts.maxPerCall)));
    }
    const ring = this.opts.ring;
    if (ring) {
      void Promise.all(calls).then((lists) => {
        const written = lists.flat();
        if (written.length > 0) ring(written).catch(() => {}); // a lost ring costs latency, not events: readers sweep
      });
    }
  }

  /** One script call; resolves (never rejects) with the ids it wrote. */
  private send(batch: PendingAppend[]): Promise<string[]> {
    const keys: ScriptArg[] = [];
    const args: ScriptArg[] = [];
    for (const p of batch) {
      keys.push(p.eventsKey, p.metaKey);
      for (const a of p.args) args.push(a);
    }
    if (this.opts.bellKey !== null && !this.opts.cluster) keys.push(this.opts.bellKey);
    return this.cmd.tcAppend(keys.length, ...keys, ...args).then(
      (replies) => {
        const written: string[] = [];
        batch.forEach((p, i) => {
          const r = Number(replies[i]);
          const err = APPEND_ERRORS[r];
          if (err) p.reject(err(p.id));
          else if (Number.isInteger(r) && r >= 0) {
            written.push(p.id);
            p.resolve(r);
          } else p.reject(new Error(`append.lua answered ${String(replies[i])} for ${p.id}`));
        });
        return written;
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
        return [];
      },
    );
  }
}
