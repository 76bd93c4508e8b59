import type { Redis } from 'ioredis';
import {
  type DurableAppendOutcome,
  type DurableAppendSpec,
  type DurableCreateOutcome,
  type DurableCreateSpec,
  type DurableDeleteOutcome,
  type DurableEntry,
  type DurableHeadOutcome,
  type DurableInfo,
  type DurablePayload,
  type DurableQuota,
  type DurableQuotaRefusal,
  type DurableReadOptions,
  type DurableReadOutcome,
  type DurableStore,
  type DurableWatch,
  newEpoch,
  slicePayload,
} from '../durable.js';
import type { Keys } from './keys.js';
import { type ScriptArg as Arg, type ScriptReply as Reply, type ScriptedRedis, withScripts } from './scripts.js';

/**
 * Durable Streams on Redis. Each stream is a Redis Stream with explicit entry ids 0-1, 0-2, … (the
 * same log format as a generation's events) plus a meta hash, a producers hash and a forks set,
 * all under one hash tag (keys.ts). Every check-and-write is one Lua script (packages/engine/lua/
 * durable-*.lua), so edges never coordinate: any edge can serve any request at any time.
 *
 * Live readers wait on a per-stream pub/sub channel (the "bell") rung by every write; the bell
 * carries no data, the reader reads the log from its own position. One subscriber connection per
 * process, shared by every waiting request, subscribed only to the streams someone waits on.
 * A bell lost while that connection was down is made up for by ringing every watcher when it
 * comes back (the readers then read again), so no append can be missed.
 *
 * Forks copy their source's entries up to the fork point into their own log: reads of a fork never
 * touch its source, and the source and fork can live on different cluster slots. The source keeps
 * the names of its forks (the forks set) so that deleting it only soft-deletes it while forks live.
 * Taking and releasing that reference are separate steps from creating and deleting the fork (two
 * slots); the forks set is pruned of names that are no longer its forks before every delete, so a
 * reference left by a crash between the steps cannot pin a source forever.
 *
 * Quotas (issue #14.2): an owner's ledger (its streams and their bytes) lives on the owner's own
 * slot, so on a Cluster no script can update it with the stream. A write therefore reserves its
 * room first (durable-quota-reserve.lua: check and reserve in one step, so a burst admits exactly
 * up to the limit), writes, and finishes (durable-quota-finish.lua: bytes not written go back).
 * Deleted and expired streams are settled out of the ledger by comparing with the stream
 * (durable-quota-settle.lua): right after a DELETE, and lazily for entries whose expiry passed,
 * when a reservation would otherwise be refused.
 */
/** How long a new watcher waits for its SUBSCRIBE to be confirmed before reading anyway, ms. */
const SUBSCRIBE_WAIT_MS = 2_000;
/**
 * How long a quota reservation holds without its finish (durable-quota-reserve.lua): longer than
 * any one write takes; after it, an edge that died mid-write no longer holds the owner's room.
 */
const QUOTA_LEASE_MS = 60_000;
/** Reservation attempts when a refusal may be lifted by settling entries whose streams are gone. */
const QUOTA_ATTEMPTS = 3;

/** Room reserved in an owner's ledger for one write, to be finished with what the write saw. */
interface Held {
  quota: DurableQuota;
  name: string;
  version: string;
  bytes: number;
}

/** What a write saw of its stream, for durable-quota-finish.lua. */
type Seen = { state: 'created'; pttl: number } | { state: 'live' | 'gone' | 'unknown' };

/** Reserves a write's bytes (and, for a create, the stream) before it happens: a refusal, or null. */
type Meter = (bytes: number) => Promise<DurableQuotaRefusal | null>;

export class RedisDurableStore implements DurableStore {
  private readonly cmd: ScriptedRedis;
  private sub: Redis | null = null;
  /** Bell channel → watchers' callbacks. */
  private readonly watchers = new Map<string, Set<() => void>>();
  /** Bell channel → its SUBSCRIBE's confirmation. */
  private readonly subscribed = new Map<string, Promise<void>>();
  private everReady = false;

  constructor(
    cmd: Redis,
    /** Opens the subscriber connection (on first watch). */
    private readonly openSubscriber: () => Redis,
    private readonly keys: Keys,
  ) {
    this.cmd = withScripts(cmd);
  }

  private streamKeys(name: string): [string, string, string, string] {
    const k = this.keys.durable(name);
    return [k.meta, k.log, k.producers, k.forks];
  }

  async create(name: string, spec: DurableCreateSpec): Promise<DurableCreateOutcome> {
    const quota = spec.quota ?? null;
    if (!quota) return this.createUnmetered(name, spec, async () => null);
    // Set by the meter once the reservation is made (a fork reserves only after its source answered).
    const slot: { held: Held | null } = { held: null };
    const meter: Meter = async (bytes) => {
      const r = await this.reserve(quota, name, true, bytes);
      if ('kind' in r) return r;
      slot.held = r;
      return null;
    };
    let out: DurableCreateOutcome;
    try {
      out = await this.createUnmetered(name, spec, meter);
    } catch (err) {
      if (slot.held) await this.finishQuietly(slot.held, 0, { state: 'unknown' });
      throw err;
    }
    if (out.kind === 'quota') {
      // A retried PUT of a stream that exists is answered as usual, limit or not.
      const h = await this.head(name);
      if (h.kind === 'ok') return { kind: 'exists', info: h.info };
      if (h.kind === 'gone') return { kind: 'soft_deleted' };
      return out;
    }
    const held = slot.held;
    if (held) {
      if (out.kind === 'created') await this.finishQuietly(held, held.bytes, { state: 'created', pttl: pttlOf(out.info) });
      else await this.finishQuietly(held, 0, { state: out.kind === 'exists' || out.kind === 'soft_deleted' ? 'live' : 'unknown' });
    }
    return out;
  }

  private async createUnmetered(name: string, spec: DurableCreateSpec, meter: Meter): Promise<DurableCreateOutcome> {
    if (spec.fork) return this.createFork(name, spec, meter);
    const entries: DurablePayload[] = spec.initial && spec.initial.data.length > 0 ? [spec.initial] : [];
    const refused = await meter(bytesOf(entries));
    if (refused) return refused;
    const out = await this.runCreate(name, spec, newEpoch(), spec.ttlSeconds, spec.expiresAt, null, entries);
    if (out.kind === 'soft_deleted' && (await this.collect(name))) return this.createUnmetered(name, spec, async () => null);
    return out;
  }

  private async createFork(name: string, spec: DurableCreateSpec, meter: Meter): Promise<DurableCreateOutcome> {
    const fork = spec.fork as NonNullable<DurableCreateSpec['fork']>;
    // The name is checked first: an existing stream must not take a reference on the source.
    const current = await this.head(name);
    if (current.kind === 'ok') return { kind: 'exists', info: current.info };
    if (current.kind === 'gone') return { kind: 'soft_deleted' };
    const [sMeta, sLog, , sForks] = this.streamKeys(fork.source);
    const reply = await this.cmd.tcDurableForkSourceBuffer(sMeta, sLog, sForks, name, fork.seq ?? -1, fork.epoch ?? '', spec.mediaType, fork.subOffset > 0 ? '1' : '0');
    const kind = str(reply[0]);
    if (kind === 'missing') return { kind: 'source_missing' };
    if (kind === 'gone') return (await this.collect(fork.source)) ? { kind: 'source_missing' } : { kind: 'source_gone' };
    if (kind === 'content_type') return { kind: 'source_content_type' };
    if (kind === 'bad_offset') return { kind: 'bad_fork_offset', message: str(reply[1]) };
    const src = infoFrom(reply[1] as Reply[]);
    const seq = Number(str(reply[2]));
    const payloads: DurablePayload[] = (reply[3] as Reply[]).map((e) => entryFrom(e as Reply[]));
    let out: DurableCreateOutcome;
    try {
      if (fork.subOffset > 0) {
        const next = entryFrom((reply[4] as Reply[])[0] as Reply[]);
        const part = slicePayload({ seq: seq + 1, ...next }, src.json, fork.subOffset);
        if (!part) {
          await this.release(fork.source, name);
          return { kind: 'bad_fork_offset', message: 'the fork sub-offset is beyond the entry at the fork offset' };
        }
        payloads.push(part);
      }
      if (spec.initial && spec.initial.data.length > 0) payloads.push(spec.initial);
      const inherit = spec.mediaType === '';
      const own: DurableCreateSpec = inherit ? { ...spec, contentType: src.contentType, mediaType: src.mediaType, json: src.json } : spec;
      const ttl = spec.ttlSeconds === null && spec.expiresAt === null ? src.ttlSeconds : spec.ttlSeconds;
      const exp = spec.ttlSeconds === null && spec.expiresAt === null ? src.expiresAt : spec.expiresAt;
      const refused = await meter(bytesOf(payloads));
      if (refused) {
        await this.release(fork.source, name);
        return refused;
      }
      out = await this.runCreate(name, own, src.epoch, ttl, exp, { source: fork.source, seq, sub: fork.subOffset }, payloads);
    } catch (err) {
      await this.release(fork.source, name).catch(() => {});
      throw err;
    }
    // Someone else created the name meanwhile: this fork was not made, give the reference back.
    if (out.kind !== 'created') await this.release(fork.source, name);
    return out;
  }

  private async runCreate(
    name: string,
    spec: DurableCreateSpec,
    epoch: string,
    ttl: number | null,
    exp: number | null,
    fork: { source: string; seq: number; sub: number } | null,
    entries: readonly DurablePayload[],
  ): Promise<DurableCreateOutcome> {
    const [meta, log] = this.streamKeys(name);
    const args: Arg[] = [
      meta,
      log,
      spec.contentType,
      spec.mediaType,
      spec.json ? '1' : '0',
      epoch,
      ttl === null ? '' : ttl,
      exp === null ? '' : exp,
      spec.closed ? '1' : '0',
      fork ? fork.source : '',
      fork ? fork.seq : '',
      fork ? fork.sub : 0,
      Date.now(),
      spec.quota?.owner ?? '',
      entries.length,
    ];
    for (const e of entries) args.push(e.data, e.count);
    const reply = await this.cmd.tcDurableCreateBuffer(...args);
    const kind = str(reply[0]);
    if (kind === 'soft_deleted') return { kind: 'soft_deleted' };
    if (kind === 'exists') return { kind: 'exists', info: infoFrom(reply[1] as Reply[]) };
    const info: DurableInfo = {
      contentType: spec.contentType,
      mediaType: spec.mediaType,
      json: spec.json,
      epoch,
      tail: entries.length,
      closed: spec.closed,
      ttlSeconds: ttl,
      expiresAt: exp,
      softDeleted: false,
      forkedFrom: fork ? fork.source : null,
      forkSeq: fork ? fork.seq : null,
      forkSubOffset: fork ? fork.sub : 0,
      createdAt: Date.now(),
    };
    return { kind: 'created', info };
  }

  async head(name: string): Promise<DurableHeadOutcome> {
    const r = await this.read(name, -1, { maxBytes: 0, maxEntries: 1, touch: false });
    return r.kind === 'ok' ? { kind: 'ok', info: r.info } : r;
  }

  async read(name: string, after: number, opts: DurableReadOptions): Promise<DurableReadOutcome> {
    const reply = await this.cmd.tcDurableReadBuffer(...this.streamKeys(name), after, Math.max(1, opts.maxEntries), opts.maxBytes, opts.touch ? '1' : '0');
    const kind = str(reply[0]);
    if (kind === 'missing') return { kind: 'missing' };
    if (kind === 'gone') return (await this.collect(name)) ? { kind: 'missing' } : { kind: 'gone' };
    const entries: DurableEntry[] = (reply[3] as Reply[]).map((raw) => {
      const [seq, data, count] = raw as [Buffer, Buffer, Buffer];
      return { seq: Number(seq.toString()), data, count: Number(count.toString()) };
    });
    return { kind: 'ok', info: infoFrom(reply[1] as Reply[]), after: Number(reply[2]), entries };
  }

  async append(name: string, spec: DurableAppendSpec): Promise<DurableAppendOutcome> {
    const quota = spec.quota ?? null;
    const bytes = spec.payload ? spec.payload.data.length : 0;
    if (!quota || bytes === 0) return this.appendUnmetered(name, spec, false);
    const r = await this.reserve(quota, name, false, bytes);
    // Refused: the other checks still decide first (a producer's retry of a write it already
    // made is a duplicate, not a refusal), so the script runs with nothing to write.
    if ('kind' in r) {
      const out = await this.appendUnmetered(name, spec, true);
      return out.kind === 'quota' ? r : out;
    }
    let out: DurableAppendOutcome;
    try {
      out = await this.appendUnmetered(name, spec, false);
    } catch (err) {
      await this.finishQuietly(r, 0, { state: 'unknown' });
      throw err;
    }
    await this.finishQuietly(r, out.kind === 'appended' ? bytes : 0, { state: out.kind === 'missing' ? 'gone' : 'live' });
    return out;
  }

  private async appendUnmetered(name: string, spec: DurableAppendSpec, refuse: boolean): Promise<DurableAppendOutcome> {
    const p = spec.producer;
    const r = await this.cmd.tcDurableAppend(
      ...this.streamKeys(name),
      spec.mediaType ?? '',
      spec.close ? '1' : '0',
      spec.streamSeq ?? '',
      p ? p.id : '',
      p ? p.epoch : 0,
      p ? p.seq : 0,
      spec.payload ? '1' : '0',
      spec.payload ? spec.payload.count : 0,
      spec.payload ? spec.payload.data : '',
      this.keys.durable(name).bell,
      refuse ? '1' : '0',
    );
    const kind = String(r[0]);
    const streamEpoch = String(r[1]);
    const tail = Number(r[2]);
    const closed = Number(r[3]) === 1;
    const a = r[4] === undefined || r[4] === '' ? null : Number(r[4]);
    const b = r[5] === undefined || r[5] === '' ? null : Number(r[5]);
    switch (kind) {
      case 'appended':
        return { kind, streamEpoch, tail, closed, producer: a === null || b === null ? null : { epoch: a, seq: b } };
      case 'duplicate':
        return { kind, streamEpoch, tail, closed, epoch: a ?? 0, lastSeq: b ?? 0 };
      case 'missing':
        return { kind };
      case 'quota':
        // Only asked for with `refuse`; append() answers with the reservation's refusal.
        return { kind, limit: 'bytes', max: 0, used: 0 };
      case 'gone':
        return (await this.collect(name)) ? { kind: 'missing' } : { kind };
      case 'closed':
      case 'content_type':
      case 'stream_seq':
      case 'epoch_seq':
        return { kind, streamEpoch, tail };
      case 'stale_epoch':
        return { kind, streamEpoch, tail, epoch: a ?? 0 };
      case 'seq_gap':
        return { kind, streamEpoch, tail, expected: a ?? 0, received: b ?? 0 };
      default:
        throw new Error(`unexpected reply from durable-append: ${kind}`);
    }
  }

  async delete(name: string, quota?: DurableQuota | null): Promise<DurableDeleteOutcome> {
    await this.prune(name);
    const [kind, source, owner] = await this.cmd.tcDurableDelete(...this.streamKeys(name), this.keys.durable(name).bell);
    if (kind === 'gone') return (await this.collect(name)) ? 'missing' : 'gone';
    if (kind === 'deleted') {
      // The stream gives its share back now (and so do soft-deleted ancestors release() removes).
      await this.settleGone(owner || quota?.owner || '', name);
      if (source) await this.release(source, name);
      return 'deleted';
    }
    return kind as DurableDeleteOutcome;
  }

  watch(name: string, bell: () => void): DurableWatch {
    const channel = this.keys.durable(name).bell;
    const sub = this.subscriber();
    let set = this.watchers.get(channel);
    if (!set) {
      set = new Set();
      this.watchers.set(channel, set);
      const p = sub.subscribe(channel).then(
        () => {},
        () => {},
      );
      this.subscribed.set(channel, p);
    }
    set.add(bell);
    const ready = Promise.race([this.subscribed.get(channel) ?? Promise.resolve(), new Promise<void>((r) => setTimeout(r, SUBSCRIBE_WAIT_MS).unref())]);
    let open = true;
    return {
      ready,
      close: () => {
        if (!open) return;
        open = false;
        const s = this.watchers.get(channel);
        s?.delete(bell);
        if (s && s.size === 0) {
          this.watchers.delete(channel);
          this.subscribed.delete(channel);
          sub.unsubscribe(channel).catch(() => {});
        }
      },
    };
  }

  private subscriber(): Redis {
    if (this.sub) return this.sub;
    const sub = this.openSubscriber();
    sub.on('message', (channel: string) => {
      for (const bell of this.watchers.get(channel) ?? []) bell();
    });
    // Back after an outage: bells rung meanwhile are lost, so every watcher reads again. ioredis
    // re-subscribes right after 'ready'; a PING queued behind those SUBSCRIBEs answers once they
    // are in place, so a write after the watchers' reads rings them.
    sub.on('ready', () => {
      if (!this.everReady) {
        this.everReady = true;
        return;
      }
      setImmediate(() => {
        const ringAll = () => {
          for (const set of this.watchers.values()) for (const bell of set) bell();
        };
        sub.ping().then(ringAll, ringAll);
      });
    });
    this.sub = sub;
    return sub;
  }

  /** Drop names from a stream's forks set that are no longer live forks of it (expired, deleted, recreated). */
  private async prune(name: string): Promise<void> {
    const forksKey = this.keys.durable(name).forks;
    const members = await this.cmd.smembers(forksKey);
    await Promise.all(
      members.map(async (f) => {
        const from = await this.cmd.hget(this.keys.durable(f).meta, 'from');
        if (from !== name) await this.cmd.srem(forksKey, f);
      }),
    );
  }

  /** Remove a soft-deleted stream whose forks are all gone; true when it is (now) gone. */
  private async collect(name: string): Promise<boolean> {
    await this.prune(name);
    const [kind, source, owner] = await this.cmd.tcDurableRelease(...this.streamKeys(name), '', this.keys.durable(name).bell);
    if (kind !== 'deleted') return false;
    await this.settleGone(owner ?? '', name);
    if (source) await this.release(source, name);
    return true;
  }

  /** Give back `fork`'s reference on `source`, removing soft-deleted ancestors left without forks. */
  private async release(source: string, fork: string): Promise<void> {
    let src = source;
    let child = fork;
    for (;;) {
      const [kind, next, owner] = await this.cmd.tcDurableRelease(...this.streamKeys(src), child, this.keys.durable(src).bell);
      if (kind === 'deleted') await this.settleGone(owner ?? '', src);
      if (kind !== 'deleted' || !next) return;
      child = src;
      src = next;
    }
  }

  /**
   * A stream was just removed: its owner's ledger gets its share back now. Best effort: the
   * removal stands whatever happens here (an entry left behind is settled once it is due).
   */
  private async settleGone(owner: string, name: string): Promise<void> {
    if (owner !== '') await this.settle(owner, name).catch(() => {});
  }

  /**
   * Reserve a write's room in the owner's ledger (durable-quota-reserve.lua). When refused while
   * entries are due for a re-check (their streams may have expired), settle those and try again.
   */
  private async reserve(quota: DurableQuota, name: string, creates: boolean, bytes: number): Promise<Held | DurableQuotaRefusal> {
    const { due, ledger } = this.keys.durableQuota(quota.owner);
    for (let attempt = 1; ; attempt++) {
      const [kind, value, dueNames] = await this.cmd.tcDurableQuotaReserve(due, ledger, name, creates ? '1' : '0', bytes, quota.maxStreams, quota.maxBytes, QUOTA_LEASE_MS);
      if (kind === 'ok') return { quota, name, version: String(value), bytes };
      const refusal: DurableQuotaRefusal = {
        kind: 'quota',
        limit: kind === 'streams' ? 'streams' : 'bytes',
        max: kind === 'streams' ? quota.maxStreams : quota.maxBytes,
        used: Number(value),
      };
      if (attempt >= QUOTA_ATTEMPTS || !dueNames || dueNames.length === 0) return refusal;
      const settled = await Promise.all(dueNames.map((n) => this.settle(quota.owner, n)));
      if (!settled.includes('removed')) return refusal;
    }
  }

  /**
   * Tell the ledger how a reserved write went: `written` of its bytes were stored. Never fails the
   * write, which stands either way: a finish that is lost leaves the reservation to its lease,
   * after which the entry is settled against the stream.
   */
  private async finishQuietly(held: Held, written: number, seen: Seen): Promise<void> {
    await this.finish(held, written, seen).catch(() => {});
  }

  private async finish(held: Held, written: number, seen: Seen): Promise<void> {
    const { owner } = held.quota;
    const pttl = seen.state === 'created' ? seen.pttl : -1;
    const { due, ledger } = this.keys.durableQuota(owner);
    await this.cmd.tcDurableQuotaFinish(due, ledger, held.name, held.version, held.bytes - written, seen.state, pttl, written);
  }

  /**
   * Compare a ledger entry with its stream (durable-quota-settle.lua): the version is read
   * before the stream's PTTL, so a write that reserved the name in between makes this a no-op.
   */
  private async settle(owner: string, name: string): Promise<string> {
    const { due, ledger } = this.keys.durableQuota(owner);
    const raw = await this.cmd.hget(ledger, name);
    if (raw === null) return 'absent';
    const version = raw.split(':')[1] ?? '';
    const pttl = await this.cmd.pttl(this.keys.durable(name).meta);
    return this.cmd.tcDurableQuotaSettle(due, ledger, name, version, pttl);
  }
}

/** Entry bytes of the payloads a create writes. */
function bytesOf(payloads: readonly DurablePayload[]): number {
  return payloads.reduce((n, p) => n + p.data.length, 0);
}

/** Ms until a new stream expires, for its ledger entry; -1: never. */
function pttlOf(info: DurableInfo): number {
  if (info.ttlSeconds !== null) return info.ttlSeconds * 1000;
  if (info.expiresAt !== null) return Math.max(info.expiresAt - Date.now(), 0);
  return -1;
}

function str(b: Reply | undefined): string {
  if (b === undefined || b === null) return '';
  return Buffer.isBuffer(b) ? b.toString('utf8') : String(b);
}

/** DurableInfo from an HGETALL reply (Buffers). */
function infoFrom(flat: Reply[]): DurableInfo {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(str(flat[i]), str(flat[i + 1]));
  const num = (k: string) => (m.has(k) && m.get(k) !== '' ? Number(m.get(k)) : null);
  return {
    contentType: m.get('ct') ?? 'application/octet-stream',
    mediaType: m.get('mt') ?? 'application/octet-stream',
    json: m.get('js') === '1',
    epoch: m.get('ep') ?? '0000000000000000',
    tail: num('tail') ?? 0,
    closed: m.get('cl') === '1',
    ttlSeconds: num('ttl'),
    expiresAt: num('exp'),
    softDeleted: m.get('sd') === '1',
    forkedFrom: m.get('from') ?? null,
    forkSeq: num('fseq'),
    forkSubOffset: num('fsub') ?? 0,
    createdAt: num('at') ?? 0,
  };
}

/** An XRANGE entry [id, [field, value, …]] as a payload. */
function entryFrom(raw: Reply[]): DurablePayload {
  const fields = raw[1] as Buffer[];
  let data: Buffer = Buffer.alloc(0);
  let count = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const f = (fields[i] as Buffer).toString();
    if (f === 'd') data = fields[i + 1] as Buffer;
    else if (f === 'n') count = Number((fields[i + 1] as Buffer).toString());
  }
  return { data, count };
}
