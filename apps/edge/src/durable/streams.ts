import type { DurableAppendOutcome, DurableCreateSpec, DurableForkSpec, DurableInfo, DurablePayload, DurableQuota, DurableReadOutcome, DurableStore } from '@tokencast/engine';
import type { FastifyReply } from 'fastify';
import type { Limits } from '../access/limits.js';
import { drained, startSse } from '../fanout/sse-response.js';
import { Bell } from './bell.js';
import type { DurableConfig } from './config.js';
import { badRequest, conflict, DurableError, quotaExceeded, streamGone, streamNotFound } from './errors.js';
import type { LiveSet } from './live.js';
import {
  closeRequested,
  type DurableRequest,
  formatOffset,
  H,
  header,
  jsonPayload,
  mediaTypeOfHeader,
  type OffsetParam,
  offsetQuery,
  parseExpiresAt,
  parseOffset,
  parseProducer,
  parseTtl,
  parseUint,
  readBody,
  responseCursor,
  sseControl,
  sseData,
  sseTextual,
} from './protocol.js';

/**
 * Client-created streams: PUT creates (or forks), POST appends and closes, GET reads (catch-up,
 * long-poll, SSE), HEAD describes, DELETE deletes. Every rule that needs atomicity lives in the
 * engine (one Lua script per operation on Redis); this module parses, maps outcomes to the
 * protocol's statuses and headers, and runs the live loops.
 */
export interface StreamsDeps {
  store: DurableStore;
  config: DurableConfig;
  live: LiveSet;
  limits?: Limits;
}

/** A stream as a request names it. */
export interface Target {
  /** The engine's name: the caller's namespace (its key's name, when keys are on) and the path. */
  name: string;
  /** Turns a Stream-Forked-From path into an engine name in the same namespace. */
  resolve(path: string): string;
  /** Counted against this key in stream limits; null without keys. */
  key: string | null;
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
/** Entries per read: more than any single response needs, fewer than a huge reply. */
const READ_ENTRIES = 1_000;
/** How long an SSE response outlives an unreachable store before it ends, ms. */
const STORE_OUTAGE_MS = 30_000;

/** The body Fastify's buffer parser gave us; empty when there was none. */
function body(req: DurableRequest): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

/**
 * The key's storage quota (issue #14.2), or null: streams created without keys (auth off) are not
 * counted (there are no tenants to keep apart; the default TTL and Redis's maxmemory bound them),
 * nor are any when both limits are 0.
 */
function quotaOf(deps: StreamsDeps, t: Target): DurableQuota | null {
  const { maxStreamsPerKey: maxStreams, maxBytesPerKey: maxBytes } = deps.config;
  if (t.key === null || (maxStreams === 0 && maxBytes === 0)) return null;
  return { owner: t.key, maxStreams, maxBytes };
}

// ---------------------------------------------------------------- create

export async function createStream(req: DurableRequest, reply: FastifyReply, deps: StreamsDeps, t: Target): Promise<void> {
  const ctHeader = header(req, 'content-type')?.trim() || undefined;
  const ttlRaw = header(req, H.ttl);
  const expRaw = header(req, H.expiresAt);
  if (ttlRaw !== undefined && expRaw !== undefined) throw badRequest('invalid_header', 'give Stream-TTL or Stream-Expires-At, not both');
  const explicitTtl = ttlRaw === undefined ? null : parseTtl(ttlRaw);
  const expiresAt = expRaw === undefined ? null : parseExpiresAt(expRaw);
  const closed = closeRequested(req);
  const fork = parseFork(req, t);
  // A stream nobody gave a lifetime gets the default one (a fork inherits its source's).
  const ttlSeconds = explicitTtl ?? (expRaw === undefined && !fork && deps.config.defaultTtlSeconds > 0 ? deps.config.defaultTtlSeconds : null);
  const raw = body(req);

  let contentType = ctHeader ?? (fork ? '' : DEFAULT_CONTENT_TYPE);
  let mediaType = contentType === '' ? '' : mediaTypeOfHeader(contentType);
  if (fork && contentType === '' && raw.length > 0) {
    // A fork that inherits its content type and brings a body: the source's type says how to parse it.
    const src = await deps.store.head(fork.source);
    if (src.kind === 'missing') throw streamNotFound();
    if (src.kind === 'gone') throw conflict('source_gone', 'the source stream was deleted');
    contentType = src.info.contentType;
    mediaType = src.info.mediaType;
  }
  const json = mediaType === 'application/json';
  const initial: DurablePayload | null = raw.length === 0 ? null : json ? jsonPayload(raw) : { data: raw, count: 0 };
  const spec: DurableCreateSpec = { contentType, mediaType, json, ttlSeconds, expiresAt, closed, initial, fork, quota: quotaOf(deps, t) };
  const out = await deps.store.create(t.name, spec);
  switch (out.kind) {
    case 'created':
      describe(reply, out.info, out.info.tail);
      reply.header('location', locationOf(req));
      reply.code(201).send();
      return;
    case 'exists':
      if (!sameConfig(out.info, spec)) throw conflict('stream_exists', 'a stream with another configuration exists at this URL');
      describe(reply, out.info, out.info.tail);
      reply.code(200).send();
      return;
    case 'soft_deleted':
      throw conflict('stream_gone', 'this URL belongs to a deleted stream whose forks still live');
    case 'source_missing':
      throw new DurableError(404, 'source_not_found', 'the Stream-Forked-From stream does not exist');
    case 'source_gone':
      throw conflict('source_gone', 'the Stream-Forked-From stream was deleted');
    case 'source_content_type':
      throw conflict('content_type_mismatch', 'a fork must have its source stream’s content type');
    case 'bad_fork_offset':
      throw badRequest('invalid_fork_offset', out.message);
    case 'quota':
      throw quotaExceeded(out);
  }
}

/** A host name or address with an optional port: nothing that could end or bend a URL. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The absolute URL of the stream just created (the protocol's Location). The scheme and host
 * may come from X-Forwarded-* (TRUST_PROXY): each is used only when it is a valid value (http or
 * https; a host name or address with a port), else the connection's own are used.
 */
function locationOf(req: DurableRequest): string {
  const proto = req.protocol === 'https' || req.protocol === 'http' ? req.protocol : 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
  const candidates = [req.host, req.headers.host, `${req.socket.localAddress?.includes(':') ? `[${req.socket.localAddress}]` : req.socket.localAddress}:${req.socket.localPort}`];
  const host = candidates.find((h): h is string => typeof h === 'string' && HOST.test(h)) ?? 'localhost';
  return `${proto}://${host}${req.url.split('?')[0]}`;
}

function parseFork(req: DurableRequest, t: Target): DurableForkSpec | null {
  const from = header(req, H.forkedFrom);
  const offsetRaw = header(req, H.forkOffset);
  const subRaw = header(req, H.forkSubOffset);
  if (from === undefined) {
    if (offsetRaw !== undefined || subRaw !== undefined) throw badRequest('invalid_header', 'Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From');
    return null;
  }
  if (from.trim() === '') throw badRequest('invalid_header', 'Stream-Forked-From is empty');
  const source = t.resolve(from.trim());
  const subOffset = subRaw === undefined ? 0 : parseUint(subRaw, 'Stream-Fork-Sub-Offset');
  let seq: number | null = null;
  let epoch: string | null = null;
  if (offsetRaw !== undefined) {
    const o = parseOffset(offsetRaw, 'Stream-Fork-Offset');
    if (o.kind === 'now') throw badRequest('invalid_offset', 'Stream-Fork-Offset must be an offset of the source stream');
    if (o.kind === 'start') seq = 0;
    else {
      seq = o.seq;
      epoch = o.epoch;
    }
  }
  return { source, seq, epoch, subOffset };
}

/** PUT on an existing stream succeeds only with the same configuration (PROTOCOL.md 5.1). */
function sameConfig(info: DurableInfo, spec: DurableCreateSpec): boolean {
  const fork = spec.fork;
  // A fork that inherits its type or its expiry compares only what it states.
  if (spec.mediaType !== '' && spec.mediaType !== info.mediaType) return false;
  const inheritsExpiry = fork !== null && spec.ttlSeconds === null && spec.expiresAt === null;
  if (!inheritsExpiry && (spec.ttlSeconds !== info.ttlSeconds || spec.expiresAt !== info.expiresAt)) return false;
  if (spec.closed !== info.closed) return false;
  if ((fork?.source ?? null) !== info.forkedFrom) return false;
  if (fork && fork.seq !== null && fork.seq !== info.forkSeq) return false;
  if ((fork?.subOffset ?? 0) !== info.forkSubOffset) return false;
  return true;
}

/**
 * Content types a browser shows as inert data; a stream of any other type (text/html,
 * image/svg+xml, text/xml, …) is served as an attachment, never rendered on this origin.
 */
const INERT_TYPES = new Set(['application/json', 'application/ndjson', 'application/x-ndjson', 'application/octet-stream', 'text/plain', 'text/csv']);

/** Headers every successful answer about a stream carries. */
function describe(reply: FastifyReply, info: DurableInfo, seq: number): void {
  reply.header('content-type', info.contentType);
  if (!INERT_TYPES.has(info.mediaType)) reply.header('content-disposition', 'attachment');
  reply.header(H.nextOffset, formatOffset(info.epoch, seq));
  if (info.closed && seq === info.tail) reply.header(H.closed, 'true');
}

// ---------------------------------------------------------------- head, delete

export async function headStream(_req: DurableRequest, reply: FastifyReply, deps: StreamsDeps, t: Target): Promise<void> {
  const out = await deps.store.head(t.name);
  if (out.kind === 'missing') throw streamNotFound();
  if (out.kind === 'gone') throw streamGone();
  const { info } = out;
  describe(reply, info, info.tail);
  if (info.ttlSeconds !== null) reply.header(H.ttl, String(info.ttlSeconds));
  if (info.expiresAt !== null) reply.header(H.expiresAt, new Date(info.expiresAt).toISOString());
  reply.header('cache-control', 'no-store');
  reply.code(200).send();
}

export async function deleteStream(_req: DurableRequest, reply: FastifyReply, deps: StreamsDeps, t: Target): Promise<void> {
  const out = await deps.store.delete(t.name, quotaOf(deps, t));
  if (out === 'missing') throw streamNotFound();
  if (out === 'gone') throw streamGone();
  reply.code(204).send();
}

// ---------------------------------------------------------------- append

export async function appendStream(req: DurableRequest, reply: FastifyReply, deps: StreamsDeps, t: Target): Promise<void> {
  const raw = body(req);
  const close = closeRequested(req);
  const producer = parseProducer(req);
  const seqRaw = header(req, H.seq);
  if (seqRaw !== undefined && (seqRaw === '' || seqRaw.length > 256)) throw badRequest('invalid_header', 'Stream-Seq must be 1 to 256 characters');
  let payload: DurablePayload | null = null;
  let mediaType: string | null = null;
  if (raw.length === 0) {
    if (!close) throw badRequest('empty_body', 'an append needs a body (or Stream-Closed: true to close the stream)');
  } else {
    const ct = header(req, 'content-type');
    if (!ct?.trim()) throw badRequest('missing_content_type', 'an append needs a Content-Type header');
    mediaType = mediaTypeOfHeader(ct);
    // The request's type decides how to parse; the engine checks it is the stream's, atomically.
    payload = mediaType === 'application/json' ? await jsonAppend(raw, deps, t) : { data: raw, count: 0 };
  }
  const out = await deps.store.append(t.name, { mediaType, payload, close, streamSeq: seqRaw ?? null, producer, quota: quotaOf(deps, t) });
  answerAppend(reply, out, payload !== null);
}

/** A JSON append; when it does not parse, the answer depends on the stream (404, 409 or 400). */
async function jsonAppend(raw: Buffer, deps: StreamsDeps, t: Target): Promise<DurablePayload> {
  let payload: DurablePayload | null;
  try {
    payload = jsonPayload(raw);
  } catch (err) {
    const head = await deps.store.head(t.name);
    if (head.kind === 'missing') throw streamNotFound();
    if (head.kind === 'gone') throw streamGone();
    if (head.info.mediaType !== 'application/json') throw conflict('content_type_mismatch', `this stream's content type is ${head.info.contentType}`);
    throw err;
  }
  if (!payload) throw badRequest('empty_array', 'an empty JSON array appends nothing');
  return payload;
}

function answerAppend(reply: FastifyReply, out: DurableAppendOutcome, withData: boolean): void {
  switch (out.kind) {
    case 'missing':
      throw streamNotFound();
    case 'gone':
      throw streamGone();
    case 'closed':
      throw conflict('stream_closed', 'the stream is closed', { [H.nextOffset]: formatOffset(out.streamEpoch, out.tail), [H.closed]: 'true' });
    case 'content_type':
      throw conflict('content_type_mismatch', 'the Content-Type is not the stream’s');
    case 'stream_seq':
      throw conflict('stream_seq_regression', 'Stream-Seq must be greater than the last one given');
    case 'stale_epoch':
      throw new DurableError(403, 'stale_producer_epoch', 'a newer epoch of this producer has written since', { [H.producerEpoch]: String(out.epoch) });
    case 'epoch_seq':
      throw badRequest('invalid_producer', 'a new producer epoch must start at Producer-Seq 0');
    case 'quota':
      throw quotaExceeded(out);
    case 'seq_gap':
      throw conflict('producer_seq_gap', `expected Producer-Seq ${out.expected}`, { [H.expectedSeq]: String(out.expected), [H.receivedSeq]: String(out.received) });
  }
  reply.header(H.nextOffset, formatOffset(out.streamEpoch, out.tail));
  if (out.closed) reply.header(H.closed, 'true');
  if (out.kind === 'duplicate') {
    reply.header(H.producerEpoch, String(out.epoch)).header(H.producerSeq, String(out.lastSeq));
    reply.code(204).send();
    return;
  }
  if (out.producer) {
    reply.header(H.producerEpoch, String(out.producer.epoch)).header(H.producerSeq, String(out.producer.seq));
    // A producer's write answers 200 (new data); a producer's close-only request 204.
    reply.code(withData ? 200 : 204).send();
    return;
  }
  reply.code(204).send();
}

// ---------------------------------------------------------------- read

type OkRead = Extract<DurableReadOutcome, { kind: 'ok' }>;

/** The seq to read after, checked against the stream: 400 past the tail, 410 for another incarnation. */
function startSeq(o: OffsetParam, info: DurableInfo): number {
  if (o.kind === 'start') return 0;
  if (o.kind === 'now') return -1;
  if (o.epoch !== info.epoch) throw new DurableError(410, 'offset_gone', 'this offset belongs to an earlier stream at this URL');
  if (o.seq > info.tail) throw badRequest('offset_out_of_range', 'the offset is beyond the end of the stream');
  return o.seq;
}

async function readOnce(deps: StreamsDeps, t: Target, after: number): Promise<OkRead> {
  const r = await deps.store.read(t.name, after, { maxBytes: deps.config.maxReadBytes, maxEntries: READ_ENTRIES, touch: true });
  if (r.kind === 'missing') throw streamNotFound();
  if (r.kind === 'gone') throw streamGone();
  // Entries the meta promises but the log no longer has (its key lost on its own): an explicit
  // 410, never an empty answer the client would ask again forever, nor a silent jump ahead.
  const first = r.entries[0];
  if ((first === undefined && r.after < r.info.tail) || (first !== undefined && first.seq !== r.after + 1)) {
    throw new DurableError(410, 'offset_gone', `the entries after this offset are no longer available`);
  }
  return r;
}

/** First read of a GET: validates the offset against the stream it finds, then reads from it. */
async function firstRead(deps: StreamsDeps, t: Target, o: OffsetParam): Promise<OkRead> {
  if (o.kind === 'at') {
    const r = await readOnce(deps, t, o.seq);
    startSeq(o, r.info);
    return r;
  }
  return readOnce(deps, t, o.kind === 'now' ? -1 : 0);
}

function lastSeq(r: OkRead): number {
  const last = r.entries[r.entries.length - 1];
  return last ? last.seq : r.after;
}

export async function readStream(req: DurableRequest, reply: FastifyReply, deps: StreamsDeps, t: Target): Promise<void> {
  const live = req.query.live;
  const offset = offsetQuery(req);
  if (live === undefined) return catchUp(req, reply, deps, t, offset ?? { kind: 'start' });
  if (live !== 'long-poll' && live !== 'sse') throw badRequest('invalid_live', 'live must be long-poll or sse');
  if (!offset) throw badRequest('missing_offset', `live=${live} needs an offset (-1 for the start, now for the tail)`);
  if (live === 'long-poll') return longPoll(req, reply, deps, t, offset);
  return sse(req, reply, deps, t, offset);
}

async function catchUp(req: DurableRequest, reply: FastifyReply, deps: StreamsDeps, t: Target, o: OffsetParam): Promise<void> {
  const r = await firstRead(deps, t, o);
  if (o.kind === 'now') {
    describe(reply, r.info, r.after);
    reply.header(H.upToDate, 'true').header('cache-control', 'no-store');
    reply.code(200).send(r.info.json ? Buffer.from('[]') : Buffer.alloc(0));
    return;
  }
  sendEntries(req, reply, r, false);
}

/** A 200 with entries (possibly none): the body, offsets, up-to-date and closure, ETag and caching. */
function sendEntries(req: DurableRequest, reply: FastifyReply, r: OkRead, live: boolean): void {
  const last = lastSeq(r);
  const upToDate = last === r.info.tail;
  describe(reply, r.info, last);
  if (upToDate) reply.header(H.upToDate, 'true');
  if (live) reply.header(H.cursor, responseCursor(req));
  const etag = `"${r.info.epoch}:${r.after}:${last}${upToDate && r.info.closed ? ':c' : ''}"`;
  reply.header('etag', etag);
  // A range that ends before the tail never changes; the tail does, so it is not cached.
  reply.header('cache-control', upToDate ? 'no-store' : 'private, max-age=60, stale-while-revalidate=300');
  if (!live && header(req, 'if-none-match') === etag) {
    reply.code(304).send();
    return;
  }
  reply.code(200).send(readBody(r.info.json, r.entries));
}

/** 204 "nothing new (yet)": the offset to come back with, up-to-date, and closure. */
function sendNothing(req: DurableRequest, reply: FastifyReply, info: DurableInfo, seq: number): void {
  reply.header(H.nextOffset, formatOffset(info.epoch, seq));
  reply.header(H.upToDate, 'true');
  reply.header(H.cursor, responseCursor(req));
  if (info.closed && seq === info.tail) reply.header(H.closed, 'true');
  reply.header('cache-control', 'no-store');
  reply.code(204).send();
}

async function longPoll(req: DurableRequest, reply: FastifyReply, deps: StreamsDeps, t: Target, o: OffsetParam): Promise<void> {
  const { config } = deps;
  const deadline = Date.now() + config.longPollMs;
  let r = await firstRead(deps, t, o);
  const after = r.after;
  if (r.entries.length > 0) return sendEntries(req, reply, r, true);
  if (r.info.closed) return sendNothing(req, reply, r.info, after);
  // At the tail: subscribe, then read again (a write between the two reads is seen by the
  // second; one after it rings), then wait.
  const bell = new Bell(deps.store, t.name);
  let left = false;
  const onClose = () => {
    left = true;
    bell.ring();
  };
  reply.raw.once('close', onClose);
  const unregister = deps.live.add(() => {
    left = true;
    bell.ring();
  }, t.key);
  let release = () => {};
  try {
    release = deps.limits?.openStream(t.key, req.ip) ?? release;
    await bell.ready;
    for (;;) {
      r = await sharedRead(deps, t, after, bell.freshAfter);
      if (r.entries.length > 0) return sendEntries(req, reply, r, true);
      if (r.info.closed || left || deps.live.closing) break;
      const wait = deadline - Date.now();
      if (wait <= 0) break;
      await bell.wait(Math.min(wait, config.recheckMs));
      if (left || deps.live.closing) break;
    }
    sendNothing(req, reply, r.info, after);
  } finally {
    release();
    unregister();
    reply.raw.off('close', onClose);
    bell.close();
  }
}

/**
 * Live readers of one stream on this edge wake together on each ring and ask for the same
 * position: a read of the same position already in flight is shared, so a thousand waiters cost
 * one read per append. Only a read that began after the caller's last ring is shared: one that
 * began before it may have missed the write that rang.
 */
const inflight = new Map<string, { at: number; read: Promise<OkRead> }>();

function sharedRead(deps: StreamsDeps, t: Target, after: number, notBefore: number): Promise<OkRead> {
  const key = `${t.name}\u0000${after}`;
  const current = inflight.get(key);
  if (current && current.at >= notBefore) return current.read;
  const entry = { at: performance.now(), read: readOnce(deps, t, after) };
  inflight.set(key, entry);
  entry.read.then(
    () => inflight.get(key) === entry && inflight.delete(key),
    () => inflight.get(key) === entry && inflight.delete(key),
  );
  return entry.read;
}

async function sse(req: DurableRequest, reply: FastifyReply, deps: StreamsDeps, t: Target, o: OffsetParam): Promise<void> {
  const { config } = deps;
  const bell = new Bell(deps.store, t.name);
  let release = () => {};
  let r: OkRead;
  try {
    await bell.ready;
    // Everything that can fail with a status fails here, before the 200 goes out.
    r = await firstRead(deps, t, o);
    release = deps.limits?.openStream(t.key, req.ip) ?? (() => {});
  } catch (err) {
    bell.close();
    throw err;
  }
  const textual = sseTextual(r.info.mediaType);
  const res = startSse(reply, { contentType: 'text/event-stream', headers: textual ? {} : { [H.sseEncoding]: 'base64' } });
  let stop = false;
  const finish = () => {
    stop = true;
    bell.ring();
  };
  res.once('close', finish);
  const unregister = deps.live.add(finish, t.key);
  const endAt = Date.now() + config.sseMaxMs;
  let cursor = r.after;
  let lastWrite = Date.now();
  let greeted = false;
  let failingSince = 0;
  try {
    while (!stop) {
      const { info } = r;
      let ok = true;
      if (r.entries.length > 0) {
        cursor = lastSeq(r);
        ok = res.write(sseData(readBody(info.json, r.entries), textual) + controlFor(req, info, cursor));
        lastWrite = Date.now();
      } else if (!greeted || (info.closed && cursor === info.tail)) {
        // Nothing to send: the first control event tells the client where it stands, and a close
        // without data still needs its streamClosed control.
        ok = res.write(controlFor(req, info, cursor));
        lastWrite = Date.now();
      }
      greeted = true;
      if (info.closed && cursor === info.tail) break; // that control event said streamClosed
      if (!ok && !(await drained(res, config.longPollMs))) break;
      if (cursor === info.tail) {
        // Caught up: wait for a ring, with heartbeats while it is quiet, and read again when it
        // rings or when the safety re-read is due.
        const recheckAt = Date.now() + config.recheckMs;
        for (;;) {
          const now = Date.now();
          const beatAt = lastWrite + config.heartbeatMs;
          if (now >= endAt || (await bell.wait(Math.min(recheckAt, beatAt, endAt) - now)) || stop) break;
          if (Date.now() >= beatAt) {
            res.write(':\n\n');
            lastWrite = Date.now();
          }
          if (Date.now() >= recheckAt) break;
        }
        // Time is up: the client reconnects from its offset (PROTOCOL.md 8.2).
        if (stop || Date.now() >= endAt) break;
      }
      if (res.writableEnded || res.destroyed) break;
      try {
        r = await sharedRead(deps, t, cursor, bell.freshAfter);
        failingSince = 0;
      } catch (err) {
        // Deleted meanwhile: end; the client's next request gets the status.
        if (err instanceof DurableError) break;
        // The store is unreachable: hold the response a while (its return rings the bell),
        // then give up; the client comes back from its offset.
        failingSince ||= Date.now();
        if (Date.now() - failingSince > STORE_OUTAGE_MS) throw err;
        r = { ...r, entries: [] };
        await bell.wait(1_000);
      }
    }
  } catch (err) {
    req.log.warn({ err }, 'durable stream SSE ended by an error');
  } finally {
    release();
    unregister();
    res.off('close', finish);
    bell.close();
    if (!res.writableEnded) res.end();
  }
}

function controlFor(req: DurableRequest, info: DurableInfo, seq: number): string {
  const next = formatOffset(info.epoch, seq);
  const atTail = seq === info.tail;
  if (info.closed && atTail) return sseControl({ streamNextOffset: next, streamClosed: true, upToDate: true });
  return sseControl(atTail ? { streamNextOffset: next, streamCursor: responseCursor(req), upToDate: true } : { streamNextOffset: next, streamCursor: responseCursor(req) });
}
