import type { GenerationMeta, NewStoredEvent, StoredEvent } from '@tokencast/protocol';
import type { DurableStore } from './durable.js';

/**
 * The storage contracts every part of tokencast talks to. Two engines satisfy them side by side:
 * memory/ (one process, the embedded default) and redis/ (the cluster). Apps import only these.
 */

/** An event as the producer hands it over: the store assigns nothing, the writer names its offset. */
export type NewEvent = NewStoredEvent;

export interface AppendResult {
  /** Offset of the newest event after the append. */
  lastOffset: number;
}

export interface ClaimResult {
  meta: GenerationMeta;
  /** The fencing token this claimer must present on every append. */
  fence: number;
}

export interface GenerationStore {
  /** Meta of a generation; null when unknown or expired. */
  getMeta(id: string): Promise<GenerationMeta | null>;
  /**
   * The newest offset written (0: none yet); null when the generation is unknown or expired. Reads
   * neither the meta's request nor any event's body: the edges' liveness checks call it for every
   * quiet generation they follow.
   */
  newestOffset(id: string): Promise<number | null>;
  /** Up to `count` events with offset > afterOffset, in order. Empty when none (yet). */
  readEvents(id: string, afterOffset: number, count: number): Promise<StoredEvent[]>;
  /**
   * Take over a generation for writing: bumps the fence and marks it running. Null when the
   * generation is unknown, expired or already ended (then there is nothing to write).
   */
  claim(id: string, producer: string): Promise<ClaimResult | null>;
  /**
   * Append events at offsets afterOffset+1 … atomically with the meta update (tokens, first
   * token time, and for an end event the terminal status). Idempotent: repeating an append that
   * was applied (its reply lost) changes nothing and answers the same. Throws FencedError when
   * `fence` is not the current one, EndedError after the terminal event, OffsetMismatchError when
   * afterOffset is not the newest offset.
   */
  append(id: string, fence: number, afterOffset: number, events: readonly NewEvent[]): Promise<AppendResult>;
  /** Ask the current writer to stop; false when the generation is unknown or already ended. */
  requestCancel(id: string): Promise<boolean>;
  /**
   * Forget a generation: its meta and its events (DELETE /v1/responses/:id). A writer still
   * running finds it gone on its next append and stops. False when it was unknown already.
   */
  delete(id: string): Promise<boolean>;
  /** Called with a generation id whenever a cancel is requested anywhere. Returns an unsubscribe. */
  onCancel(listener: (id: string) => void): () => void;
  /** Live follower of many generations at once, one per edge process. */
  openTail(onEvents: TailListener): Tail;
}

export type TailListener = (id: string, events: StoredEvent[]) => void;

/**
 * One live read path covering many generations. For each generation added it delivers, in
 * order and exactly once, every event after the offset it was added with, until removed.
 */
export interface Tail {
  /**
   * Follow a generation from after `afterOffset`. `unwritten`: nothing can have been written to
   * it yet (the caller adds it before its job is queued, so no producer can have claimed it): a
   * Redis tail then reads nothing now, since every event to come is rung on its doorbell after
   * this call (issue #13: that first read was a round trip per generation on a Redis Cluster).
   */
  add(id: string, afterOffset: number, unwritten?: boolean): void;
  remove(id: string): void;
  /** Generations currently followed. */
  readonly size: number;
  close(): Promise<void>;
}

export interface Job {
  /** The queue entry's own id (opaque). */
  jobId: string;
  generationId: string;
  /** How many times this job has been handed to a consumer, this time included. */
  deliveries: number;
}

export interface QueueStats {
  /** Entries in the queue stream not yet handed to any producer. */
  waiting: number;
  /** Handed to a producer and not yet acknowledged. */
  pending: number;
  consumers: { name: string; pending: number; idleMs: number }[];
}

export interface JobQueue {
  /** Store the generation's meta (status queued) and queue its job. */
  enqueue(meta: GenerationMeta): Promise<void>;
  /** New jobs for this consumer: at most `count`, waiting up to blockMs for the first. */
  take(consumer: string, count: number, blockMs: number): Promise<Job[]>;
  /** Jobs whose consumer has been silent for minIdleMs, moved to this consumer. */
  reclaim(consumer: string, minIdleMs: number, count: number): Promise<Job[]>;
  /** Tell the queue these jobs are still being worked on (resets their idle time). */
  touch(consumer: string, jobIds: readonly string[]): Promise<void>;
  ack(jobId: string): Promise<void>;
  /** Move a job that keeps failing aside, with the reason. */
  deadLetter(job: Job, reason: string): Promise<void>;
  stats(): Promise<QueueStats>;
  /** Interrupt a take() in progress (used on shutdown). */
  close(): Promise<void>;
}

/**
 * API keys shared by every edge. Only sha256 hashes of keys are stored; names identify keys in
 * logs, metrics and generation ownership. Keys from the environment are revoked here too.
 */
export interface KeyStore {
  /** Name of the stored key with this sha256 hex hash; null when none. */
  findByHash(hash: string): Promise<string | null>;
  add(name: string, hash: string): Promise<void>;
  /** Revoke a key by name (stored or from the environment); false when it was already revoked. */
  revoke(name: string): Promise<boolean>;
  /** Names revoked so far. */
  revoked(): Promise<Set<string>>;
  /** Names of the stored keys. */
  names(): Promise<string[]>;
}

/** Fixed-window counters shared by every edge, for requests-per-minute limits. */
export interface Limiter {
  /** Count one hit on `key` in the current window; returns hits in this window so far and ms until it ends. */
  hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }>;
}

/**
 * Which edges have viewers of a generation right now, for the "cancel when the last viewer
 * leaves" policy. Each edge marks itself present with an expiry and refreshes it; an edge that
 * dies simply stops refreshing, so its mark lapses instead of keeping a generation alive forever.
 */
export interface Presence {
  mark(id: string, member: string, ttlMs: number): Promise<void>;
  unmark(id: string, member: string): Promise<void>;
  /** Members whose mark has not lapsed. */
  count(id: string): Promise<number>;
}

export interface Engine {
  readonly kind: 'memory' | 'redis';
  readonly presence: Presence;
  /** Connection health since start, for metrics: reconnect attempts and connection errors (0 for memory). */
  readonly health: { reconnects: number; errors: number };
  readonly store: GenerationStore;
  /** The default job queue: queueFor('default'). */
  readonly queue: JobQueue;
  /**
   * A named job queue. Models can be routed to their own queue (MODELS_FILE "queue") so that
   * producers take only the work they can serve (PRODUCER_QUEUES). Names: [A-Za-z0-9_.-]{1,64}.
   */
  queueFor(name: string): JobQueue;
  readonly keys: KeyStore;
  readonly limiter: Limiter;
  /** Durable Streams protocol storage (durable.ts). */
  readonly durable: DurableStore;
  /** Resolves when the backing store answers; rejects otherwise. */
  ping(): Promise<void>;
  /**
   * Start-up checks of the store's settings. Throws ConfigError for a setting that loses data
   * (an eviction policy other than noeviction, unless allowed); returns warnings to log.
   */
  preflight(): Promise<string[]>;
  close(): Promise<void>;
}
