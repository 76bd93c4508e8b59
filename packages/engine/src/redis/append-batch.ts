import { randomBytes } from 'node:crypto';
import { type ChainableCommander, ReplyError } from 'ioredis';
import { EndedError, FencedError, MissingGenerationError, OffsetMismatchError } from '../errors.js';
import { formatRing, type RingContent, ringHead } from './bell.js';
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
  /** The writer's fence (the entry id's second part): a provisional ring says it (bell.ts). */
  fence: number;
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
   * One Redis: the doorbell channel (bell.ts; every edge's tail subscribes), rung in each flush's
   * own pipeline: a provisional ring of its plain XADDs, and one from each append.lua call of what
   * it wrote (sendAll). null on a Redis Cluster, where the bells are on other slots (ring).
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
 * A ring's content: every event written (or, in a provisional ring, sent), each exactly as
 * stored, so a reader whose cursor is just before one delivers it from the ring with no read of
 * the stream (tail.ts): live delivery costs Redis a PUBLISH per flush, not a read per generation.
 * Generations whose events are too big to carry (BELL_EVENT_BYTES) are only named. A retried
 * append that had been applied is announced again; readers skip offsets they have.
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
 * generations gathered into few calls. On one Redis a flush is one pipeline on the writer's
 * connection: the XADDs, the doorbell's ring of them, and the script calls, which ring what they
 * wrote (sendAll). Appends of one generation keep their order (the producer has one in flight per
 * generation).
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
    if (!this.opts.cluster) {
      this.sendAll(fast, careful);
      return;
    }
    // Careful appends: one call each (one slot per call). Fast ones: a pipeline per master.
    const sent: Promise<Written[]>[] = [];
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
    // One ring for the whole flush, once every master answered: on a cluster the doorbell is on
    // another slot than the streams, so only a confirmed ring goes out.
    const ring = this.opts.ring;
    void Promise.all(sent).then((lists) => {
      const written = lists.flat();
      if (ring && written.length > 0) ring(ringOf(written)).catch(() => {}); // a lost ring costs latency, not events: readers sweep
    });
  }

  /**
   * One Redis: the whole flush is one pipeline, so Redis wakes once for it (a wake costs Redis
   * tens of µs of CPU on a small VM whatever it carries: bench/results/micro-2026-12-03.md). In
   * it, a transaction of the plain XADDs and the provisional ring of their events with their
   * fences (bell.ts: an XADD refused at run time was fenced out or its stream deleted, which
   * readers were told of first; one refused for memory, OOM under noeviction, aborts the whole
   * transaction, ring included, since Redis refuses it while queuing), then the append.lua calls,
   * each of which publishes the ring of what it wrote. Rings are numbered in the order they are
   * sent; one connection keeps that order.
   */
  private sendAll(fast: PendingAppend[], careful: PendingAppend[]): void {
    const bell = this.opts.bellChannel;
    const pipeline = this.cmd.pipeline();
    const ringed = bell !== null && fast.length > 0;
    // An inline transaction (ioredis sends MULTI and EXEC as part of the pipeline).
    if (ringed) (pipeline as unknown as { multi(): void }).multi();
    for (const p of fast) this.queueFast(pipeline, p);
    if (ringed) {
      const fences: Record<string, number> = {};
      for (const p of fast) fences[p.id] = (p.fast as FastAppend).fence;
      const provisional = ringOf(fast.map((p) => ({ id: p.id, last: (p.fast as FastAppend).offset, events: p.events })));
      this.rings += 1; // numbered before it is sent: a ring that fails leaves a gap readers notice (they sweep)
      pipeline.publish(bell, formatRing({ ...provisional, fences, writer: this.writer, n: this.rings }));
      pipeline.exec();
    }
    const calls: PendingAppend[][] = [];
    for (let i = 0; i < careful.length; i += this.opts.maxPerCall) calls.push(careful.slice(i, i + this.opts.maxPerCall));
    for (const batch of calls) this.queueCareful(pipeline, batch);
    if (fast.length === 0 && calls.length === 0) return;
    pipeline.exec().then(
      (results) => {
        let i = 0;
        if (ringed) {
          this.settleFast(fast, transactionResults(results, fast.length), 0);
          i = fast.length + 3; // MULTI, the XADDs, the ring, EXEC
        } else i = this.settleFast(fast, results, 0);
        for (const batch of calls) this.settleCareful(batch, results?.[i++] ?? [new Error('no reply to the append'), null]);
      },
      (err: unknown) => {
        for (const p of [...fast, ...careful]) if (this.inflight.delete(p)) p.reject(err);
      },
    );
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
   * The fast appends of one flush to one master (Redis Cluster): one explicit pipeline of XADDs,
   * written at once (never ioredis' auto-pipelining, which defers to a later turn and queues
   * behind a pipeline that lost its connection, then sends on the next one). Resolves (never
   * rejects) with what was written; a refused id or a missing stream goes to append.lua in the
   * next flush, which says why.
   */
  private sendFast(conn: Pick<ScriptedRedis, 'pipeline'>, list: PendingAppend[]): Promise<Written[]> {
    const pipeline = conn.pipeline();
    for (const p of list) this.queueFast(pipeline, p);
    return pipeline.exec().then(
      (results) => {
        const written: Written[] = [];
        this.settleFast(list, results, 0, written);
        return written;
      },
      (err: unknown) => {
        for (const p of list) if (this.inflight.delete(p)) p.reject(err);
        return [];
      },
    );
  }

  private queueFast(pipeline: ChainableCommander, p: PendingAppend): void {
    const f = p.fast as FastAppend;
    this.inflight.add(p);
    pipeline.xadd(p.eventsKey, 'NOMKSTREAM', f.entryId, ...f.fields);
  }

  /**
   * Settles the fast appends whose replies start at `from` in a pipeline's results (each written
   * one is added to `written`); returns the index past them.
   */
  private settleFast(list: PendingAppend[], results: PipelineResults, from: number, written?: Written[]): number {
    list.forEach((p, k) => {
      if (!this.inflight.delete(p)) return; // aborted: the writer has moved on
      const f = p.fast as FastAppend;
      const [err, reply] = results?.[from + k] ?? [new Error('no reply to the append'), null];
      if (err) {
        if (err instanceof ReplyError)
          this.fallBack(p); // id refused (taken, or fenced); on a cluster also MOVED, ASK, READONLY
        else p.reject(err);
      } else if (reply === null)
        this.fallBack(p); // no stream: gone, or never written
      else {
        p.resolve(f.offset);
        written?.push({ id: p.id, last: f.offset, events: p.events });
      }
    });
    return from + list.length;
  }

  private fallBack(p: PendingAppend): void {
    p.fast = null;
    this.push(p);
  }

  /** One append.lua call (Redis Cluster: no ring of its own); resolves (never rejects) with what it wrote. */
  private send(batch: PendingAppend[]): Promise<Written[]> {
    const [keys, args] = this.scriptArgs(batch, '', '');
    for (const p of batch) this.inflight.add(p);
    return this.cmd.tcAppend(keys.length, ...keys, ...args).then(
      (replies) => this.settleCareful(batch, [null, replies]),
      (err: unknown) => this.settleCareful(batch, [err as Error, null]),
    );
  }

  /** One append.lua call in a flush's pipeline (one Redis), ringing what it writes itself. */
  private queueCareful(pipeline: ChainableCommander, batch: PendingAppend[]): void {
    const bell = this.opts.bellChannel;
    let head = '';
    if (bell !== null) {
      this.rings += 1;
      head = ringHead(this.writer, this.rings);
    }
    const [keys, args] = this.scriptArgs(batch, bell ?? '', head);
    for (const p of batch) this.inflight.add(p);
    (pipeline as unknown as ScriptedRedis).tcAppend(keys.length, ...keys, ...args);
  }

  /** append.lua's keys and ARGV for a batch (the script's header describes them). */
  private scriptArgs(batch: PendingAppend[], bell: string, head: string): [ScriptArg[], ScriptArg[]] {
    const keys: ScriptArg[] = [];
    const args: ScriptArg[] = [bell, head];
    for (const p of batch) {
      keys.push(p.eventsKey, p.metaKey);
      for (let i = 0; i < 7; i++) args.push(p.args[i] as ScriptArg);
      args.push(bell === '' ? '' : ringPart(p));
      for (let i = 7; i < p.args.length; i++) args.push(p.args[i] as ScriptArg);
    }
    return [keys, args];
  }

  /** Settles an append.lua call's generations by its reply; returns what it wrote. */
  private settleCareful(batch: PendingAppend[], [err, replies]: [Error | null, unknown]): Written[] {
    const written: Written[] = [];
    batch.forEach((p, i) => {
      if (!this.inflight.delete(p)) return; // aborted: the writer retries, and append.lua sees this one
      if (err) {
        p.reject(err);
        return;
      }
      const reply = Array.isArray(replies) ? replies[i] : undefined;
      const r = Number(reply);
      const known = APPEND_ERRORS[r];
      if (known) p.reject(known(p.id));
      else if (Number.isInteger(r) && r >= 0) {
        written.push({ id: p.id, last: r, events: p.events });
        p.resolve(r);
      } else p.reject(new Error(`append.lua answered ${String(reply)} for ${p.id}`));
    });
    return written;
  }
}

type PipelineResults = [error: Error | null, result: unknown][] | null;

/**
 * The replies of the first `n` commands of a transaction that opens a pipeline (MULTI, the n
 * commands, one more, EXEC), as a pipeline gives them: EXEC's reply holds them, each an error or
 * a value; a transaction refused while queuing (EXECABORT) gives each its own queuing error (OOM).
 */
function transactionResults(results: PipelineResults, n: number): PipelineResults {
  const exec = results?.[n + 2];
  const replies = exec?.[1];
  const out: [Error | null, unknown][] = [];
  for (let k = 0; k < n; k++) {
    if (Array.isArray(replies)) {
      const v: unknown = replies[k];
      out.push(v instanceof Error ? [v, null] : [null, v]);
    } else out.push([results?.[1 + k]?.[0] ?? exec?.[0] ?? new Error('no reply to the append'), null]);
  }
  return out;
}

/**
 * What append.lua's ring says of one generation once written (its header): its events at
 * after+1 …, or its id alone when they are too big to carry (BELL_EVENT_BYTES).
 */
function ringPart(p: PendingAppend): string {
  if (fieldBytes(p.events) > BELL_EVENT_BYTES) return `g${JSON.stringify(p.id)}`;
  const after = Number(p.args[1]);
  return `e${p.events.map((fields, i) => JSON.stringify([p.id, after + 1 + i, ...fields])).join(',')}`;
}
