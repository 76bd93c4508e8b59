import { EventEmitter } from 'node:events';
import {
  type DurableAppendOutcome,
  type DurableAppendSpec,
  type DurableCreateOutcome,
  type DurableCreateSpec,
  type DurableDeleteOutcome,
  type DurableEntry,
  type DurableHeadOutcome,
  type DurableInfo,
  type DurableQuota,
  type DurableQuotaRefusal,
  type DurableReadOptions,
  type DurableReadOutcome,
  type DurableStore,
  type DurableWatch,
  newEpoch,
  slicePayload,
} from '../durable.js';

/**
 * Durable Streams in one process: the embedded edge's store and the fast half of the
 * conformance runs. Same rules as redis/durable.ts and its scripts, step for step; expiry is
 * checked on every access (and swept), as Redis expires keys lazily and in the background.
 */
interface Stream {
  info: DurableInfo;
  entries: DurableEntry[];
  /** Producer id → epoch and last seq accepted. */
  producers: Map<string, { epoch: number; seq: number }>;
  /** Last Stream-Seq accepted; null before the first. */
  streamSeq: string | null;
  /** Names of live forks taken from this stream. */
  forks: Set<string>;
  /** Epoch ms at which it disappears; 0: never. */
  deadline: number;
  /** Whose quota it counts in; null: nobody's (created without a key). */
  owner: string | null;
  /** Entry bytes it holds (what its quota share is). */
  bytes: number;
}

export class MemoryDurableStore implements DurableStore {
  private readonly streams = new Map<string, Stream>();
  /** Owner → names of the streams it created (some may be gone: usage() prunes them). */
  private readonly owned = new Map<string, Set<string>>();
  private readonly bells = new EventEmitter();
  private readonly sweep: NodeJS.Timeout;

  constructor() {
    this.bells.setMaxListeners(0);
    this.sweep = setInterval(() => {
      for (const name of [...this.streams.keys()]) this.live(name);
    }, 30_000);
    this.sweep.unref();
  }

  close(): void {
    clearInterval(this.sweep);
  }

  async create(name: string, spec: DurableCreateSpec): Promise<DurableCreateOutcome> {
    const existing = this.live(name);
    if (existing) {
      if (existing.info.softDeleted && !this.collect(name)) return { kind: 'soft_deleted' };
      if (!existing.info.softDeleted) return { kind: 'exists', info: { ...existing.info } };
    }
    const now = Date.now();
    let entries: DurableEntry[] = [];
    let contentType = spec.contentType;
    let mediaType = spec.mediaType;
    let json = spec.json;
    let epoch = newEpoch();
    let ttlSeconds = spec.ttlSeconds;
    let expiresAt = spec.expiresAt;
    let forkSeq: number | null = null;
    const fork = spec.fork;
    if (fork) {
      const src = this.live(fork.source);
      if (!src) return { kind: 'source_missing' };
      if (src.info.softDeleted) return { kind: 'source_gone' };
      if (mediaType !== '' && mediaType !== src.info.mediaType) return { kind: 'source_content_type' };
      const seq = fork.seq ?? src.info.tail;
      if (fork.epoch !== null && fork.epoch !== src.info.epoch) return { kind: 'bad_fork_offset', message: 'the fork offset is not an offset of the source stream' };
      if (seq > src.info.tail) return { kind: 'bad_fork_offset', message: 'the fork offset is beyond the end of the source stream' };
      entries = src.entries.slice(0, seq).map((e) => ({ ...e }));
      if (fork.subOffset > 0) {
        const next = src.entries[seq];
        const part = next ? slicePayload(next, src.info.json, fork.subOffset) : null;
        if (!part) return { kind: 'bad_fork_offset', message: 'the fork sub-offset is beyond the entry at the fork offset' };
        entries.push({ seq: seq + 1, data: Buffer.from(part.data), count: part.count });
      }
      if (mediaType === '') {
        contentType = src.info.contentType;
        mediaType = src.info.mediaType;
        json = src.info.json;
      }
      epoch = src.info.epoch;
      if (ttlSeconds === null && expiresAt === null) {
        ttlSeconds = src.info.ttlSeconds;
        expiresAt = src.info.expiresAt;
      }
      forkSeq = seq;
    }
    if (spec.initial && spec.initial.data.length > 0) entries.push({ seq: entries.length + 1, data: Buffer.from(spec.initial.data), count: spec.initial.count });
    const bytes = entries.reduce((n, e) => n + e.data.length, 0);
    const quota = spec.quota ?? null;
    if (quota) {
      const refused = this.refusal(quota, 1, bytes);
      if (refused) return refused;
    }
    if (fork) this.live(fork.source)?.forks.add(name);
    const info: DurableInfo = {
      contentType,
      mediaType,
      json,
      epoch,
      tail: entries.length,
      closed: spec.closed,
      ttlSeconds,
      expiresAt,
      softDeleted: false,
      forkedFrom: fork ? fork.source : null,
      forkSeq,
      forkSubOffset: fork ? fork.subOffset : 0,
      createdAt: now,
    };
    const s: Stream = { info, entries, producers: new Map(), streamSeq: null, forks: new Set(), deadline: 0, owner: null, bytes };
    this.streams.set(name, s);
    if (quota) this.own(quota.owner, name, s);
    this.refresh(s);
    return { kind: 'created', info: { ...info } };
  }

  async head(name: string): Promise<DurableHeadOutcome> {
    const s = this.live(name);
    if (!s) return { kind: 'missing' };
    if (s.info.softDeleted) return this.collect(name) ? { kind: 'missing' } : { kind: 'gone' };
    return { kind: 'ok', info: { ...s.info } };
  }

  async read(name: string, after: number, opts: DurableReadOptions): Promise<DurableReadOutcome> {
    const s = this.live(name);
    if (!s) return { kind: 'missing' };
    if (s.info.softDeleted) return this.collect(name) ? { kind: 'missing' } : { kind: 'gone' };
    const from = after < 0 ? s.info.tail : after;
    const entries: DurableEntry[] = [];
    let bytes = 0;
    for (let seq = from + 1; seq <= s.info.tail && entries.length < opts.maxEntries; seq++) {
      const e = s.entries[seq - 1] as DurableEntry;
      if (entries.length > 0 && bytes + e.data.length > opts.maxBytes) break;
      bytes += e.data.length;
      entries.push(e);
    }
    if (opts.touch) this.refresh(s);
    return { kind: 'ok', info: { ...s.info }, after: from, entries };
  }

  async append(name: string, spec: DurableAppendSpec): Promise<DurableAppendOutcome> {
    const s = this.live(name);
    if (!s) return { kind: 'missing' };
    if (s.info.softDeleted) return this.collect(name) ? { kind: 'missing' } : { kind: 'gone' };
    const { info } = s;
    const tail = info.tail;
    const streamEpoch = info.epoch;
    if (spec.mediaType !== null && spec.mediaType !== info.mediaType) return { kind: 'content_type', streamEpoch, tail };
    const p = spec.producer;
    if (p) {
      const state = s.producers.get(p.id);
      if (!state) {
        if (p.seq !== 0) return { kind: 'seq_gap', streamEpoch, tail, expected: 0, received: p.seq };
      } else if (p.epoch < state.epoch) {
        return { kind: 'stale_epoch', streamEpoch, tail, epoch: state.epoch };
      } else if (p.epoch > state.epoch) {
        if (p.seq !== 0) return { kind: 'epoch_seq', streamEpoch, tail };
      } else if (p.seq <= state.seq) {
        return { kind: 'duplicate', streamEpoch, tail, closed: info.closed, epoch: state.epoch, lastSeq: state.seq };
      } else if (p.seq > state.seq + 1) {
        return { kind: 'seq_gap', streamEpoch, tail, expected: state.seq + 1, received: p.seq };
      }
    }
    if (info.closed) {
      // Closing a closed stream again is a no-op, unless it carries data or a producer's write.
      if (spec.close && !spec.payload && !p) return { kind: 'appended', streamEpoch, tail, closed: true, producer: null };
      return { kind: 'closed', streamEpoch, tail };
    }
    if (spec.streamSeq !== null && s.streamSeq !== null && Buffer.compare(Buffer.from(spec.streamSeq), Buffer.from(s.streamSeq)) <= 0) {
      return { kind: 'stream_seq', streamEpoch, tail };
    }
    if (spec.payload && spec.quota) {
      const refused = this.refusal(spec.quota, 0, spec.payload.data.length);
      if (refused) return refused;
      if (s.owner === null) this.own(spec.quota.owner, name, s);
    }
    if (spec.payload) {
      s.bytes += spec.payload.data.length;
      info.tail += 1;
      s.entries.push({ seq: info.tail, data: Buffer.from(spec.payload.data), count: spec.payload.count });
    }
    if (spec.close) info.closed = true;
    if (spec.streamSeq !== null) s.streamSeq = spec.streamSeq;
    if (p) s.producers.set(p.id, { epoch: p.epoch, seq: p.seq });
    this.refresh(s);
    this.bells.emit(name);
    return { kind: 'appended', streamEpoch, tail: info.tail, closed: info.closed, producer: p ? { epoch: p.epoch, seq: p.seq } : null };
  }

  async delete(name: string): Promise<DurableDeleteOutcome> {
    const s = this.live(name);
    if (!s) return 'missing';
    if (s.info.softDeleted) return this.collect(name) ? 'missing' : 'gone';
    this.prune(name, s);
    if (s.forks.size > 0) {
      s.info.softDeleted = true;
      this.bells.emit(name);
      return 'soft';
    }
    this.remove(name);
    return 'deleted';
  }

  watch(name: string, bell: () => void): DurableWatch {
    this.bells.on(name, bell);
    return { ready: Promise.resolve(), close: () => this.bells.off(name, bell) };
  }

  /**
   * The refusal of a write that adds `streams` streams and `bytes` bytes to the owner's live
   * ones, or null when it fits. Same rule as durable-quota-reserve.lua; no await between this
   * check and the write that follows it, so a burst cannot pass it together.
   */
  private refusal(quota: DurableQuota, streams: number, bytes: number): DurableQuotaRefusal | null {
    const used = this.usage(quota.owner);
    if (streams > 0 && quota.maxStreams > 0 && used.streams + streams > quota.maxStreams) return { kind: 'quota', limit: 'streams', max: quota.maxStreams, used: used.streams };
    if (bytes > 0 && quota.maxBytes > 0 && used.bytes + bytes > quota.maxBytes) return { kind: 'quota', limit: 'bytes', max: quota.maxBytes, used: used.bytes };
    return null;
  }

  /** The owner's live streams (soft-deleted ones included: they still hold their entries) and their bytes. */
  private usage(owner: string): { streams: number; bytes: number } {
    const names = this.owned.get(owner);
    let streams = 0;
    let bytes = 0;
    for (const n of names ?? []) {
      const s = this.live(n);
      if (!s || s.owner !== owner) {
        names?.delete(n);
        continue;
      }
      streams++;
      bytes += s.bytes;
    }
    return { streams, bytes };
  }

  private own(owner: string, name: string, s: Stream): void {
    s.owner = owner;
    let names = this.owned.get(owner);
    if (!names) {
      names = new Set();
      this.owned.set(owner, names);
    }
    names.add(name);
  }

  /** The stream, or null once it expired (then it is dropped, as Redis drops expired keys). */
  private live(name: string): Stream | null {
    const s = this.streams.get(name);
    if (!s) return null;
    if (s.deadline !== 0 && s.deadline <= Date.now()) {
      this.streams.delete(name);
      this.bells.emit(name);
      return null;
    }
    return s;
  }

  private refresh(s: Stream): void {
    if (s.info.expiresAt !== null) s.deadline = s.info.expiresAt;
    else if (s.info.ttlSeconds !== null) s.deadline = Date.now() + s.info.ttlSeconds * 1000;
  }

  /** Forget fork names that no longer name a live fork of this stream (expired, recreated). */
  private prune(name: string, s: Stream): void {
    for (const f of [...s.forks]) {
      const fork = this.live(f);
      if (!fork || fork.info.forkedFrom !== name) s.forks.delete(f);
    }
  }

  /** A soft-deleted stream whose forks are all gone is removed: true when that happened. */
  private collect(name: string): boolean {
    const s = this.streams.get(name);
    if (!s) return true;
    this.prune(name, s);
    if (s.forks.size > 0) return false;
    this.remove(name);
    return true;
  }

  /** Delete a stream and release its reference on its source, cascading up soft-deleted ancestors. */
  private remove(name: string): void {
    let current: string | null = name;
    while (current !== null) {
      const s = this.streams.get(current);
      this.streams.delete(current);
      this.bells.emit(current);
      const source: string | null = s?.info.forkedFrom ?? null;
      if (source === null) return;
      const src = this.live(source);
      if (!src) return;
      src.forks.delete(current);
      current = src.info.softDeleted && src.forks.size === 0 ? source : null;
    }
  }
}
