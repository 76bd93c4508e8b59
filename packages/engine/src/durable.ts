/**
 * Durable Streams storage: named, append-only streams created and written by clients over the
 * Durable Streams protocol (apps/edge/src/durable). Two engines satisfy the contract side by side,
 * memory/durable.ts and redis/durable.ts, with the same semantics.
 *
 * A stream is a log of entries with dense sequence numbers 1, 2, 3, … (seq 0 means "before the
 * first entry"), exactly like a generation's events: in Redis the entry with seq k has the id
 * `0-k`, so a retried write can never duplicate one. One entry is one accepted append (a POST
 * body, or a PUT's initial body). In JSON mode an entry holds one or more messages (a flattened
 * batch), stored as their JSON texts joined by commas.
 *
 * Names are opaque strings (the edge puts the owner's namespace in front); the engine encodes
 * them before they reach a key, so no name can inject a separator or a hash-tag brace.
 */

/** Longest stream name, in UTF-8 bytes, that the engine accepts (namespace included). */
export const DURABLE_NAME_MAX_BYTES = 2048;

/** What the stream is; fixed at creation except `tail`, `closed` and `softDeleted`. */
export interface DurableInfo {
  /** The Content-Type given at creation, trimmed (parameters and case as sent). */
  contentType: string;
  /** `contentType`'s media type, lower case, without parameters: what appends must match. */
  mediaType: string;
  /** application/json: entries hold messages and reads return a JSON array. */
  json: boolean;
  /**
   * 16 decimal digits identifying this incarnation of the name: every offset the stream hands
   * out carries it, so an offset of a deleted stream is told apart from one of its successor at
   * the same name. A fork shares its source's epoch (it shares its offsets).
   */
  epoch: string;
  /** Seq of the newest entry; 0 when the stream holds none. */
  tail: number;
  /** No append can follow (Stream-Closed). */
  closed: boolean;
  /** Sliding time-to-live (reset by every read and write), seconds; null: none. */
  ttlSeconds: number | null;
  /** Absolute expiry, epoch ms; null: none. At most one of ttlSeconds and expiresAt is set. */
  expiresAt: number | null;
  /** Deleted while forks still reference it: answers 410 until the last fork is gone. */
  softDeleted: boolean;
  /** Name of the stream this one was forked from; null for a stream created empty. */
  forkedFrom: string | null;
  /** Seq of the source the fork was taken at; null when not a fork. */
  forkSeq: number | null;
  /** Stream-Fork-Sub-Offset the fork was created with (0: none). */
  forkSubOffset: number;
  /** Epoch ms. */
  createdAt: number;
}

/** One stored entry. */
export interface DurableEntry {
  seq: number;
  /** The bytes (bytes mode) or the comma-joined JSON texts of the messages (JSON mode). */
  data: Buffer;
  /** Messages in the entry in JSON mode (≥ 1); 0 in bytes mode. */
  count: number;
}

/** What an append or an initial body carries. */
export interface DurablePayload {
  data: Buffer;
  /** JSON messages in `data` (0 in bytes mode). */
  count: number;
}

export interface DurableForkSpec {
  /** Name of the source stream. */
  source: string;
  /** Fork after this seq of the source; null: at the source's tail. */
  seq: number | null;
  /** Epoch of the offset the seq came from; null: any (seq 0, the start, fits every stream). */
  epoch: string | null;
  /**
   * Also take the first N bytes (bytes mode) or messages (JSON mode) of the source's entry right
   * after `seq`, materialized as the fork's first own entry. 0: none.
   */
  subOffset: number;
}

/**
 * Per-owner storage limits a write is checked against (issue #14.2), atomically with the write:
 * a burst of concurrent creates admits exactly up to the limit. The owner (an API key's name) has
 * a ledger of its live streams and their bytes; expired and deleted streams give their share back.
 */
export interface DurableQuota {
  /** Whose ledger the stream counts in (an API key's name); never empty. */
  owner: string;
  /** Most live streams the owner may have; 0: unlimited (still counted). */
  maxStreams: number;
  /** Most entry bytes (data as appended, forks counting what they copy) over the owner's live streams; 0: unlimited (still counted). */
  maxBytes: number;
}

/** A write the owner's quota refused: nothing was written. `used` is the count or bytes before it. */
export interface DurableQuotaRefusal {
  kind: 'quota';
  /** Which limit: `streams` (maxStreams) or `bytes` (maxBytes). */
  limit: 'streams' | 'bytes';
  /** The limit that refused it. */
  max: number;
  /** What the owner had when it was refused (streams, or bytes). */
  used: number;
}

export interface DurableCreateSpec {
  contentType: string;
  /** Empty for a fork that inherits its source's content type. */
  mediaType: string;
  json: boolean;
  ttlSeconds: number | null;
  expiresAt: number | null;
  closed: boolean;
  /** Initial body; null or empty: none. */
  initial: DurablePayload | null;
  fork: DurableForkSpec | null;
  /** Count the stream (and its bytes) against this; null: not counted (no API key). */
  quota?: DurableQuota | null;
}

export type DurableCreateOutcome =
  /** Created now (201). */
  | { kind: 'created'; info: DurableInfo }
  /** A live stream is already there; the caller compares its configuration (200 or 409). */
  | { kind: 'exists'; info: DurableInfo }
  /** The name is held by a soft-deleted stream (409 until its forks are gone). */
  | { kind: 'soft_deleted' }
  /** Fork only: the source does not exist (404). */
  | { kind: 'source_missing' }
  /** Fork only: the source is soft-deleted (409). */
  | { kind: 'source_gone' }
  /** Fork only: the content type differs from the source's (409). */
  | { kind: 'source_content_type' }
  /** Fork only: the offset or sub-offset is not a position of the source (400). */
  | { kind: 'bad_fork_offset'; message: string }
  /** The owner is at a limit: nothing was created (a live stream at the name is reported as `exists` instead). */
  | DurableQuotaRefusal;

export interface DurableProducer {
  id: string;
  epoch: number;
  seq: number;
}

export interface DurableAppendSpec {
  /** The request's media type; null for a close-only request (no body, type not checked). */
  mediaType: string | null;
  payload: DurablePayload | null;
  close: boolean;
  /** Stream-Seq: must be byte-wise greater than the last one given on this stream. */
  streamSeq: string | null;
  producer: DurableProducer | null;
  /** Count the payload's bytes against this; null: not counted (no API key). */
  quota?: DurableQuota | null;
}

/** `streamEpoch`: the stream's DurableInfo.epoch, for the offsets in the answer. */
export type DurableAppendOutcome =
  /** Applied; `tail` is the newest seq after it. `producer` echoes the accepted tuple. */
  | { kind: 'appended'; streamEpoch: string; tail: number; closed: boolean; producer: { epoch: number; seq: number } | null }
  /** The producer already appended this (epoch, seq): nothing written. */
  | { kind: 'duplicate'; streamEpoch: string; tail: number; closed: boolean; epoch: number; lastSeq: number }
  | { kind: 'missing' }
  | { kind: 'gone' }
  /** The stream is closed and this is not a duplicate: 409 with Stream-Closed. */
  | { kind: 'closed'; streamEpoch: string; tail: number }
  | { kind: 'content_type'; streamEpoch: string; tail: number }
  | { kind: 'stream_seq'; streamEpoch: string; tail: number }
  | { kind: 'stale_epoch'; streamEpoch: string; tail: number; epoch: number }
  /** A new epoch must start at seq 0. */
  | { kind: 'epoch_seq'; streamEpoch: string; tail: number }
  | { kind: 'seq_gap'; streamEpoch: string; tail: number; expected: number; received: number }
  /** Every other check passed but the payload would take the owner past maxBytes: nothing written. */
  | DurableQuotaRefusal;

export type DurableReadOutcome =
  | { kind: 'missing' }
  | { kind: 'gone' }
  /**
   * `after` is the seq the read started after (the tail when asked for -1); `entries` follow it
   * contiguously. `info` and `entries` are one consistent snapshot.
   */
  | { kind: 'ok'; info: DurableInfo; after: number; entries: DurableEntry[] };

export type DurableHeadOutcome = { kind: 'missing' } | { kind: 'gone' } | { kind: 'ok'; info: DurableInfo };

/** deleted: removed (and any soft-deleted ancestors it kept alive); soft: forks still read it. */
export type DurableDeleteOutcome = 'deleted' | 'soft' | 'missing' | 'gone';

/** A subscription to a stream's doorbell; see DurableStore.watch. */
export interface DurableWatch {
  /** Resolves once a write made from now on is certain to ring. */
  readonly ready: Promise<void>;
  close(): void;
}

export interface DurableReadOptions {
  /** Stop adding entries once this many bytes are gathered (at least one entry is returned). */
  maxBytes: number;
  /** Most entries per read. */
  maxEntries: number;
  /** Reset a sliding TTL (reads do; HEAD does not). */
  touch: boolean;
}

export interface DurableStore {
  /** Create, or report what holds the name. A fork copies the source's entries up to the fork point. */
  create(name: string, spec: DurableCreateSpec): Promise<DurableCreateOutcome>;
  /** Metadata without touching the TTL. */
  head(name: string): Promise<DurableHeadOutcome>;
  /** Entries after `after` (-1: after the tail, i.e. none yet: "now"). */
  read(name: string, after: number, opts: DurableReadOptions): Promise<DurableReadOutcome>;
  /** Validation (producer, Stream-Seq, closure, content type) and the write, atomically. */
  append(name: string, spec: DurableAppendSpec): Promise<DurableAppendOutcome>;
  /**
   * The stream gives its quota share back to the owner it was created for; `quota` names one
   * more ledger to settle it in (a stream that predates its owner's ledger; null: none).
   */
  delete(name: string, quota?: DurableQuota | null): Promise<DurableDeleteOutcome>;
  /**
   * Ring `bell` whenever the stream may have changed (an append, a close, a delete), and also
   * whenever a ring may have been missed (the store's connection came back). Rings carry no
   * data: the watcher reads from its own position. Cheap to open per waiting request.
   */
  watch(name: string, bell: () => void): DurableWatch;
}

/** Media type of a Content-Type value: lower case, parameters and spaces removed. */
export function mediaTypeOf(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/** Random epoch, never all zeros (that one belongs to generation views). */
export function newEpoch(): string {
  for (;;) {
    const bytes = new Uint8Array(8);
    globalThis.crypto.getRandomValues(bytes);
    let n = 0n;
    for (const b of bytes) n = (n << 8n) | BigInt(b);
    const s = (n % 10_000_000_000_000_000n).toString().padStart(16, '0');
    if (s !== '0000000000000000') return s;
  }
}

/**
 * The prefix a fork materializes from its source's entry right after the fork point: the first
 * `n` bytes, or the first `n` messages. Null when `n` overshoots the entry.
 */
export function slicePayload(entry: DurableEntry, json: boolean, n: number): DurablePayload | null {
  if (json) {
    const messages = jsonArrayElements(`[${entry.data.toString('utf8')}]`);
    if (n > messages.length) return null;
    return { data: Buffer.from(messages.slice(0, n).join(',')), count: n };
  }
  if (n > entry.data.length) return null;
  return { data: entry.data.subarray(0, n), count: 0 };
}

/**
 * The elements of a JSON array text, each as its own text (trimmed): messages are stored as the
 * client wrote them, never re-serialized (which would, for one, round numbers beyond 2^53). The
 * text must be valid JSON (JSON.parse it first); this only finds the top-level commas.
 */
export function jsonArrayElements(arrayText: string): string[] {
  const s = arrayText.trim();
  const out: string[] = [];
  const take = (from: number, to: number) => {
    const e = s.slice(from, to).trim();
    if (e !== '') out.push(e);
  };
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = 1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) depth++;
    else if (c === 0x5d || c === 0x7d) {
      depth--;
      if (depth === 0) take(start, i);
    } else if (c === 0x2c && depth === 1) {
      take(start, i);
      start = i + 1;
    }
  }
  return out;
}
