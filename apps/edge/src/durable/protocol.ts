import { type DurableEntry, type DurablePayload, type DurableProducer, jsonArrayElements, mediaTypeOf } from '@tokencast/engine';
import type { FastifyRequest } from 'fastify';
import { type FromSchema, tokenQueryParam } from '../plugins/schemas.js';
import { badRequest } from './errors.js';

/**
 * The Durable Streams wire vocabulary (protocol 1.x as checked by server-conformance-tests 0.3.6):
 * header names, offsets, cursors, and the request values that need strict parsing.
 */
export const H = {
  nextOffset: 'stream-next-offset',
  cursor: 'stream-cursor',
  upToDate: 'stream-up-to-date',
  closed: 'stream-closed',
  ttl: 'stream-ttl',
  expiresAt: 'stream-expires-at',
  seq: 'stream-seq',
  forkedFrom: 'stream-forked-from',
  forkOffset: 'stream-fork-offset',
  forkSubOffset: 'stream-fork-sub-offset',
  producerId: 'producer-id',
  producerEpoch: 'producer-epoch',
  producerSeq: 'producer-seq',
  expectedSeq: 'producer-expected-seq',
  receivedSeq: 'producer-received-seq',
  sseEncoding: 'stream-sse-data-encoding',
} as const;

/** Response headers a browser script may read (CORS: plugins/cors.ts, @fastify/cors). */
export const EXPOSED_HEADERS: readonly string[] = [
  H.nextOffset,
  H.cursor,
  H.upToDate,
  H.closed,
  H.ttl,
  H.expiresAt,
  H.producerEpoch,
  H.producerSeq,
  H.expectedSeq,
  H.receivedSeq,
  H.sseEncoding,
  'etag',
  'location',
  'retry-after',
];

/** Request headers a browser script may send (CORS preflight: plugins/cors.ts, @fastify/cors). */
export const ALLOWED_HEADERS: readonly string[] = [
  'authorization',
  'content-type',
  'if-none-match',
  'last-event-id',
  H.seq,
  H.ttl,
  H.expiresAt,
  H.closed,
  H.forkedFrom,
  H.forkOffset,
  H.forkSubOffset,
  H.producerId,
  H.producerEpoch,
  H.producerSeq,
];

/**
 * Offsets: `<epoch>_<seq>`, both 16 decimal digits, so that string order is stream order. `seq` is
 * the number of the last entry before the position (0: the start), the same number as a
 * generation's event offset and as the Redis entry id `0-seq`. `epoch` identifies the stream's
 * incarnation (DurableInfo.epoch; all zeros for generation views); seq 0 is the start of any
 * stream whatever its epoch, so `0000000000000000_0000000000000000` always means "the start".
 */
export const GENERATION_EPOCH = '0000000000000000';
const OFFSET = /^(\d{16})_(\d{16})$/;

export function formatOffset(epoch: string, seq: number): string {
  return `${epoch}_${String(seq).padStart(16, '0')}`;
}

export type OffsetParam = { kind: 'start' } | { kind: 'now' } | { kind: 'at'; epoch: string; seq: number };

/** `-1` (the start), `now` (the tail) or one of our offsets; anything else is a 400. */
export function parseOffset(raw: string, what = 'offset'): OffsetParam {
  if (raw === '-1') return { kind: 'start' };
  if (raw === 'now') return { kind: 'now' };
  const m = OFFSET.exec(raw);
  const seq = m ? Number(m[2]) : Number.NaN;
  if (!m || !Number.isSafeInteger(seq)) throw badRequest('invalid_offset', `${what} must be -1, now, or an offset this server returned`);
  return seq === 0 ? { kind: 'start' } : { kind: 'at', epoch: m[1] as string, seq };
}

/**
 * The query of every Durable Streams request. Each parameter is given at most once (a repeated
 * one is a 400); values are checked where the protocol's order of checks puts them (an unknown
 * stream is a 404 before a bad `live` is a 400, …).
 */
export const durableQuery = {
  type: 'object',
  properties: {
    /** -1, now, or an offset this server returned. */
    offset: { type: 'string', errorCode: 'invalid_offset', errorMessage: 'give the offset parameter once' },
    /** long-poll or sse; absent: catch-up. */
    live: { type: 'string', errorCode: 'invalid_live', errorMessage: 'live must be long-poll or sse' },
    /** The Stream-Cursor a client echoes (PROTOCOL.md 8.1); anything else is ignored. */
    cursor: { type: 'string' },
    token: tokenQueryParam,
  },
} as const;

/** A request of the Durable Streams endpoint, its query validated and typed by durableQuery. */
export type DurableRequest = FastifyRequest & { readonly query: FromSchema<typeof durableQuery> };

/** The `offset` query parameter; null when absent. Repeated (durableQuery) or empty is a 400. */
export function offsetQuery(req: DurableRequest): OffsetParam | null {
  const v = req.query.offset;
  if (v === undefined) return null;
  if (v === '') throw badRequest('invalid_offset', 'the offset parameter is empty');
  return parseOffset(v);
}

/** A request header given at most once; undefined when absent. */
export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  if (Array.isArray(v)) throw badRequest('invalid_header', `give the ${name} header once`);
  return v;
}

const UINT = /^(0|[1-9][0-9]*)$/;

/** Non-negative integer without sign, leading zeros, fraction or exponent, at most `max`. */
export function parseUint(raw: string, name: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = UINT.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > max) throw badRequest('invalid_header', `${name} must be a non-negative integer in decimal, without sign or leading zeros`);
  return n;
}

/** Longest Stream-TTL accepted: ten years. */
const MAX_TTL_SECONDS = 10 * 365 * 86_400;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseTtl(raw: string): number {
  return parseUint(raw, 'Stream-TTL', MAX_TTL_SECONDS);
}

/** An RFC 3339 timestamp in the future, as epoch ms. */
export function parseExpiresAt(raw: string): number {
  const ms = RFC3339.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms)) throw badRequest('invalid_header', 'Stream-Expires-At must be an RFC 3339 timestamp');
  if (ms <= Date.now()) throw badRequest('invalid_header', 'Stream-Expires-At is in the past');
  return ms;
}

/** Producer-Id, -Epoch and -Seq: all three or none. */
export function parseProducer(req: FastifyRequest): DurableProducer | null {
  const id = header(req, H.producerId);
  const epoch = header(req, H.producerEpoch);
  const seq = header(req, H.producerSeq);
  if (id === undefined && epoch === undefined && seq === undefined) return null;
  if (id === undefined || epoch === undefined || seq === undefined) throw badRequest('invalid_producer', 'send Producer-Id, Producer-Epoch and Producer-Seq together');
  if (id === '' || id.length > 256) throw badRequest('invalid_producer', 'Producer-Id must be 1 to 256 characters');
  return { id, epoch: parseUint(epoch, 'Producer-Epoch'), seq: parseUint(seq, 'Producer-Seq') };
}

/** Stream-Closed: true closes; anything else (or absence) does not. */
export function closeRequested(req: FastifyRequest): boolean {
  return header(req, H.closed)?.trim().toLowerCase() === 'true';
}

/**
 * Cursors for CDN collapsing (PROTOCOL.md 8.1): the number of 20 s intervals since 2024-10-09,
 * never at or below what the client echoed (then it moves on by a random 1 to 180 intervals).
 */
const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);
const CURSOR_INTERVAL_MS = 20_000;

export function responseCursor(req: DurableRequest, now = Date.now()): string {
  const interval = Math.floor((now - CURSOR_EPOCH_MS) / CURSOR_INTERVAL_MS);
  const echoed = req.query.cursor;
  const c = echoed !== undefined && /^\d{1,15}$/.test(echoed) ? Number(echoed) : -1;
  if (c >= interval) return String(c + 1 + Math.floor(Math.random() * 180));
  return String(interval);
}

const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;

/** A Content-Type header's media type (lower case, no parameters); 400 for one that is not `type/subtype`. */
export function mediaTypeOfHeader(contentType: string): string {
  const mt = mediaTypeOf(contentType);
  if (contentType.length > 255 || !MEDIA_TYPE.test(mt)) throw badRequest('invalid_content_type', 'Content-Type must be a media type (type/subtype)');
  return mt;
}

/** Streams SSE can carry as text; any other content type travels base64-encoded. */
export function sseTextual(mediaType: string): boolean {
  return mediaType.startsWith('text/') || mediaType === 'application/json';
}

/**
 * A JSON-mode body as stored: one message, or the elements of a top-level array (one level
 * flattened), each kept as the client wrote it and joined by commas. `[]` gives null (an empty
 * PUT); the caller refuses it on POST. Invalid JSON is a 400.
 */
export function jsonPayload(body: Buffer): DurablePayload | null {
  const text = body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('invalid_json', 'the body is not valid JSON');
  }
  const messages = Array.isArray(value) ? jsonArrayElements(text) : [text.trim()];
  if (messages.length === 0) return null;
  return { data: Buffer.from(messages.join(',')), count: messages.length };
}

/** A read's body: the bytes, or in JSON mode one array of every message. */
export function readBody(json: boolean, entries: readonly DurableEntry[]): Buffer {
  if (!json) return entries.length === 1 ? (entries[0] as DurableEntry).data : Buffer.concat(entries.map((e) => e.data));
  const parts: Buffer[] = [Buffer.from('[')];
  entries.forEach((e, i) => {
    if (i > 0) parts.push(Buffer.from(','));
    parts.push(e.data);
  });
  parts.push(Buffer.from(']'));
  return Buffer.concat(parts);
}

/**
 * One SSE data event followed by its control event. Text is split into one `data:` line per line
 * (CR, LF and CRLF all end a line), so no stream content can end the event or forge another;
 * binary content is base64 on one line. Control payloads are our own JSON.
 */
export function sseData(payload: Buffer, textual: boolean): string {
  if (!textual) return `event: data\ndata:${payload.toString('base64')}\n\n`;
  const lines = payload.toString('utf8').split(/\r\n|\r|\n/);
  return `event: data\n${lines.map((l) => `data:${l}\n`).join('')}\n`;
}

export interface Control {
  streamNextOffset: string;
  streamCursor?: string;
  upToDate?: boolean;
  streamClosed?: boolean;
}

export function sseControl(c: Control): string {
  return `event: control\ndata:${JSON.stringify(c)}\n\n`;
}
