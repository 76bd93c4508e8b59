import { randomBytes } from 'node:crypto';
import { ReplyError } from 'ioredis';
import { EndedError, FencedError, MissingGenerationError, OffsetMismatchError } from '../errors.js';
import { formatRing, type RingContent } from './bell.js';
import type { ScriptArg, ScriptedRedis } from './scripts.js';

/** append.lua's error codes (its header lists them), mapped to typed errors: no message matching. */
const APPEND_ERRORS: Record<number, (id: string) => Error> = {
  [-1]: (id) => new MissingGenerationError(id),
  [-2]: (id) => new FencedError(id),
  [-3]: (id) => new EndedError(id),
  [-4]: (id) => new OffsetMismatchError(id),
};

/**
 * One event written with a plain XADD (store.ts decides when that is safe): its entry id
 * `<offset>-<fence>` and its fields.
 */
export interface FastAppend {
  /** The writer connection's epoch the store judged it by (AppendBatchOptions.epoch). */
  epoch: number;
  offset: number;
  entryId: string;
  fields: string[];
}

/** One generation's append, as append.lua takes it (and, when eligible, as one XADD). */
export interface PendingAppend {
  id: string;
  eventsKey: string;
  metaKey: string;
  /** The generation's ARGV items for append.lua (7 header items, then its events). */
  args: ScriptArg[];
  /** Each event's fields, as `args` carries them: what the doorbell tells readers once written. */
  events: string[][];
  /** Set: try the fast path first; a refused XADD falls back to append.lua, which says why. */
  fast: FastAppend | null;
  resolve(lastOffset: number): void;
  reject(err: unknown): void;
}

export interface AppendBatchOptions {
  /**
   * Least time between the starts of two flushes, ms: an append that finds the last flush older
   * than this goes out at the end of the event loop's turn (setImmediate, which gathers every
   * append that turn issued); one that finds it younger waits for the rest of the window. So a
   * lone token is not delayed, and under load flushes come at most once per window, each carrying
   * every append since (Redis pays a round trip, a wake and a ring per flush, issue #13). 0: every
   * turn of the event loop.
   */
  windowMs: number;
  /** Most generations in one script call: bounds how long one call holds Redis. */
  maxPerCall: number;
  /**
   * Redis Cluster: a script call may only name keys of one slot, and generations rarely share
   * one, so each careful append is its own call. Fast appends go to the master of their slot
   * directly (nodeFor), one pipeline per master per flush.
   */
  cluster: boolean;
  /**
   * Redis Cluster: the connection to the master that serves a key's slot now, as the cluster
   * client knows it, if it is connected; null sends the append carefully (through the cluster
   * client, which follows MOVED and failovers; append.lua checks the offset). Sent straight to a
   * node, a plain XADD is never re-sent elsewhere: a slot that moved answers MOVED (or ASK), a
   * demoted master READONLY, a node that went away closes: each goes careful.
   */
  nodeFor?: (key: string) => ScriptedRedis | null;
  /**
   * One Redis: the doorbell channel (bell.ts; every edge's tail subscribes), rung once per flush,
   * after its writes answered, with what they wrote (ringOf). null on a Redis Cluster, where the
   * bells are streams on other slots (ring).
   */
  bellChannel: string | null;
  /**
   * Redis Cluster: rings the doorbell shards (cluster-tail.ts) with what a write wrote (the
   * events, or the ids of those too big to carry), once it has answered.
   */
  ring: ((written: RingContent) => Promise<unknown>) | null;
  /**
   * The writer connection's epoch now (store.ts counts its drops). A fast append judged in an
   * earlier epoch goes careful: between the judgement and the flush the connection may have
   * dropped, and a command issued while it reconnects is sent to whatever Redis answers next.
   */
  epoch: () => number;
}

/** A generation one write wrote, and its events: the newest at `last`, the others before it. */
interface Written {
  id: string;
  last: number;
  events: string[][];
}

/**
 * Most bytes of fields one write may put on the doorbell (every edge reads every ring): a write
 * with more (a long tool call's arguments, a big reasoning signature) is only named there, and
 * the readers that follow it read its stream.
 */
const BELL_EVENT_BYTES = 8_192;

function fieldBytes(events: readonly string[][]): number {
  let n = 0;
  for (const fields of events) for (const f of fields) n += f.length;
  return n;
}

/**
 * The ring of one flush (one Redis): every event the flush wrote (plain XADDs and append.lua
 * alike), each exactly as stored, so a reader whose cursor is just before one delivers it from the
 * ring with no read of the stream (tail.ts): live delivery costs Redis one PUBLISH per flush, not
 * a read per generation. Generations whose events are too big to carry (BELL_EVENT_BYTES) are
 * only named. A retried append that had been applied is announced again; readers skip offsets
 * they have.
 */
function ringOf(written: readonly Written[]): RingContent {
  const named = new Set<string>();
  const events: RingContent['events'] = [];
  for (const w of written) {
    if (fieldBytes(w.events) > BELL_EVENT_BYTES) {
      named.add(w.id);
      continue;
    }
    const first = w.last - w.events.length + 1;
    for (let i = 0; i < w.events.length; i++) events.push([w.id, first + i, ...(w.events[i] as string[])]);
  }
  return { events, named: [...named] };
}

/**
 * Writes appends (issue #13). A token is usually one `XADD <events> NOMKSTREAM <offset>-<fence>`,
 * which needs no script: the explicit id fails when the offset is taken or a newer claim moved
 * the stream past this writer's fence, and such a refusal (or a stream gone) goes to append.lua,
 * which answers exactly why. Everything else goes to append.lua directly, with appends to many
 * generations gathered into few calls. On one Redis a flush is one pipeline of XADDs and the
 * script calls on the writer's connection; then one PUBLISH on the doorbell carrying the events.
 * Appends of one generation keep their order (the producer has one in flight per generation).
 */
export class AppendBatcher {
  private queue: PendingAppend[] = [];
  /** This batcher's name on the doorbell, and its rings so far (bell.ts). */
  private readonly writer = randomBytes(9).toString('base64url');
  private rings = 0;
  private scheduled = false;
  /** When the last flush started (performance.now()); the window counts from it. */
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  /** Sent and not answered yet (see abortInFlight). */
  private readonly inflight = new Set<PendingAppend>();

  /** @param cmd the writer's connection (engine.ts): every append and the doorbell go through it. */
  constructor(
    private readonly cmd: ScriptedRedis,
    private readonly opts: AppendBatchOptions,
  ) {}

  push(p: PendingAppend): void {
    this.queue.push(p);
    if (this.scheduled) return;
    this.scheduled = true;
    // Throttled, not debounced: a window that opened at the last flush, not at this append. The
    // timer may fire up to a loop turn early (libuv counts from the clock it read when the turn
    // began), so under load flushes come 4.5–5 ms apart at 5 ms. Waiting out the rest measured
    // 0.93× the Redis CPU per token but 1.7× the delivery lag p50 at 600 generations
    // (bench/results/tier/2026-12-03T06-39-29Z.json): kept as is.
    const wait = this.lastFlushAt + this.opts.windowMs - performance.now();
    if (wait >= 1) setTimeout(() => this.flush(), wait);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    this.lastFlushAt = performance.now();
    const all = this.queue;
    this.queue = [];
    const epoch = this.opts.epoch();
    const fast: PendingAppend[] = [];
    const careful: PendingAppend[] = [];
    for (const p of all) {
      if (p.fast && p.fast.epoch !== epoch) p.fast = null; // judged before a reconnect: careful
      (p.fast ? fast : careful).push(p);
    }
    const sent: Promise<Written[]>[] = [];
    if (this.opts.cluster) {
      // Careful appends: one call each (one slot per call). Fast ones: a pipeline per master.
      for (const p of careful) sent.push(this.send([p]));
      const byNode = new Map<ScriptedRedis, PendingAppend[]>();
      for (const p of fast) {
        const node = this.opts.nodeFor?.(p.eventsKey) ?? null;
        if (!node) {
          sent.push(this.send([p]));
          continue;
        }
        const list = byNode.get(node);
        if (list) list.push(p);
        else byNode.set(node, [p]);
      }
      for (const [node, list] of byNode) sent.push(this.sendFast(node, list));
      // One ring for the whole flush, once every master answered (as on one Redis).
      const ring = this.opts.ring;
      void Promise.all(sent).then((lists) => {
        const written = lists.flat();
        if (ring && written.length > 0) ring(ringOf(written)).catch(() => {}); // a lost ring costs latency, not events: readers sweep
      });
      return;
    }
    if (fast.length > 0) sent.push(this.sendFast(this.cmd, fast));
    for (let i = 0; i < careful.length; i += this.opts.maxPerCall) sent.push(this.send(careful.slice(i, i + this.opts.maxPerCall)));
    const bell = this.opts.bellChannel;
    if (bell === null) return;
    // Rung once every write of the flush has answered, with what was written: a refused XADD
    // (a fenced writer) must never reach a reader through the bell.
    void Promise.all(sent).then((lists) => {
      const written = lists.flat();
      if (written.length === 0) return;
      // Numbered before it is sent: a ring that fails leaves a gap readers notice (they sweep).
      this.rings += 1;
      this.cmd.publish(bell, formatRing({ ...ringOf(written), writer: this.writer, n: this.rings })).catch(() => {});
    });
  }

  /**
   * The writer connection dropped: every append sent on it and not answered fails now, as
   * "unavailable" (the writer retries, carefully: store.ts). ioredis, told not to re-send them,
   * would otherwise leave their promises pending until the command timeout. A reply that still
   * comes later is ignored (a settled promise stays settled).
   */
  abortInFlight(): void {
    const err = new Error('the connection to Redis dropped before the append was answered');
    for (const p of this.inflight) p.reject(err);
    this.inflight.clear();
  }

  /**
   * The fast appends of one flush: one explicit pipeline of XADDs, written at once (never ioredis'
   * auto-pipelining, which defers to a later turn and queues behind a pipeline that lost its
   * connection, then sends on the next one). Resolves (never rejects) with what was written; a
   * refused id or a missing stream goes to append.lua in the next flush, which says why.
   */
  private sendFast(conn: Pick<ScriptedRedis, 'pipeline'>, list: PendingAppend[]): Promise<Written[]> {
    const pipeline = conn.pipeline();
    for (const p of list) {
      const f = p.fast as FastAppend;
      this.inflight.add(p);
      pipeline.xadd(p.eventsKey, 'NOMKSTREAM', f.entryId, ...f.fields);
    }
    return pipeline.exec().then(
      (results) => {
        const written: Written[] = [];
        list.forEach((p, i) => {
          if (!this.inflight.delete(p)) return; // aborted: the writer has moved on
          const f = p.fast as FastAppend;
          const [err, reply] = results?.[i] ?? [new Error('no reply to the append'), null];
          if (err) {
            if (err instanceof ReplyError)
              this.fallBack(p); // id refused (taken, or fenced); on a cluster also MOVED, ASK, READONLY
            else p.reject(err);
          } else if (reply === null)
            this.fallBack(p); // no stream: gone, or never written
          else {
            p.resolve(f.offset);
            written.push({ id: p.id, last: f.offset, events: p.events });
          }
        });
        return written;
      },
      (err: unknown) => {
        for (const p of list) if (this.inflight.delete(p)) p.reject(err);
        return [];
      },
    );
  }

  private fallBack(p: PendingAppend): void {
    p.fast = null;
    this.push(p);
  }

  /** One append.lua call; resolves (never rejects) with what it wrote. */
  private send(batch: PendingAppend[]): Promise<Written[]> {
    const keys: ScriptArg[] = [];
    const args: ScriptArg[] = [];
    for (const p of batch) {
      keys.push(p.eventsKey, p.metaKey);
      for (const a of p.args) args.push(a);
    }
    for (const p of batch) this.inflight.add(p);
    return this.cmd.tcAppend(keys.length, ...keys, ...args).then(
      (replies) => {
        const written: Written[] = [];
        batch.forEach((p, i) => {
          if (!this.inflight.delete(p)) return; // aborted: the writer retries, and append.lua sees this one
          const r = Number(replies[i]);
          const err = APPEND_ERRORS[r];
          if (err) p.reject(err(p.id));
          else if (Number.isInteger(r) && r >= 0) {
            written.push({ id: p.id, last: r, events: p.events });
            p.resolve(r);
          } else p.reject(new Error(`append.lua answered ${String(replies[i])} for ${p.id}`));
        });
        return written;
      },
      (err: unknown) => {
        for (const p of batch) if (this.inflight.delete(p)) p.reject(err);
        return [];
      },
    );
  }
}
