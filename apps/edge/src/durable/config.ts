import { ConfigError } from '@tokencast/engine';
import { type Env, int, readOptions, str } from '@tokencast/runtime';

const urlPath = (v: string) => (/^(\/[A-Za-z0-9._~-]+)+\/*$/.test(v) ? null : 'a URL path like /v1/stream');

/** The Durable Streams endpoint's settings (README.md, "Durable Streams"); HEARTBEAT_MS is the edge's. */
export const durableOptions = {
  /**
   * Default `/v1/stream`, the layout the protocol's examples, its reference server and its
   * conformance suite use, so clients written for those work unchanged.
   */
  base: str('DURABLE_STREAMS_BASE', {
    default: '/v1/stream',
    check: urlPath,
    why: 'URL path the Durable Streams protocol is served under: `<base>/<name>`, generations read-only at `<base>/generations/<id>`',
  }),
  longPollMs: int('DURABLE_STREAMS_LONG_POLL_MS', { default: 20_000, min: 100, max: 300_000, unit: 'ms', why: 'how long a long-poll read waits for data before answering 204' }),
  sseMaxMs: int('DURABLE_STREAMS_SSE_MAX_MS', {
    default: 60_000,
    min: 1_000,
    unit: 'ms',
    why: 'an SSE read is ended after this long (the client reconnects from its offset), so proxies see it end',
  }),
  maxAppendBytes: int('DURABLE_STREAMS_MAX_APPEND_BYTES', {
    default: 1_048_576,
    min: 1,
    max: 64 * 1_048_576,
    unit: 'bytes',
    why: 'largest append (POST body or PUT initial body); larger ones get 413',
  }),
  maxReadBytes: int('DURABLE_STREAMS_MAX_READ_BYTES', { default: 1_048_576, min: 1, unit: 'bytes', why: 'a read response stops adding entries past this (one entry always fits)' }),
  recheckMs: int('DURABLE_STREAMS_RECHECK_MS', { default: 10_000, min: 50, unit: 'ms', why: 'waiting readers read again this often even without a wake-up (a safety net)' }),
  defaultTtlSeconds: int('DURABLE_STREAMS_DEFAULT_TTL_SECONDS', {
    default: 604_800,
    unit: 's',
    why: "the `Stream-TTL` (sliding: reads and writes renew it) of a stream created without `Stream-TTL` or `Stream-Expires-At` (forks inherit their source's), so forgotten streams do not fill Redis",
    zero: '0: such streams never expire',
  }),
  maxStreamsPerKey: int('DURABLE_STREAMS_MAX_PER_KEY', {
    default: 1_000,
    why: 'most live Durable Streams an API key may hold (created, not yet deleted or expired; forks count); one more PUT gets 507 `quota_exceeded`. Streams created without keys (auth off) are not counted',
    zero: '0: unlimited',
  }),
  maxBytesPerKey: int('DURABLE_STREAMS_MAX_BYTES_PER_KEY', {
    default: 268_435_456,
    unit: 'bytes',
    why: "most entry bytes over an API key's live Durable Streams (bodies as stored; a fork counts what it copies); the append or PUT that would pass it gets 507 `quota_exceeded` and writes nothing",
    zero: '0: unlimited',
  }),
} as const;

export interface DurableConfig {
  /** URL path the streams live under, without a trailing slash. */
  base: string;
  /** How long a long-poll read waits for data before answering 204, ms. */
  longPollMs: number;
  /** An SSE response is ended after this long (the client reconnects from its offset), ms. */
  sseMaxMs: number;
  /** Comment line sent on an idle SSE response this often, ms (HEARTBEAT_MS). */
  heartbeatMs: number;
  /** Largest append (POST body or PUT initial body), bytes; larger ones get 413. */
  maxAppendBytes: number;
  /** A read response stops adding entries past this many bytes (one entry always fits). */
  maxReadBytes: number;
  /** Waiting readers read again this often even without a bell, ms (a safety net). */
  recheckMs: number;
  /** Stream-TTL given to a stream created without TTL or expiry (not forks), s; 0: none. */
  defaultTtlSeconds: number;
  /** Most live streams per API key; 0: unlimited. Not applied without keys. */
  maxStreamsPerKey: number;
  /** Most entry bytes over an API key's live streams; 0: unlimited. Not applied without keys. */
  maxBytesPerKey: number;
}

export function durableConfig(env: Env, heartbeatMs: number): DurableConfig {
  // CORS is one setting for every route (CORS_ORIGINS); this older, separate one is refused
  // rather than silently ignored.
  if (env.DURABLE_STREAMS_CORS_ORIGIN !== undefined) throw new ConfigError('DURABLE_STREAMS_CORS_ORIGIN is gone: CORS_ORIGINS applies to every route, Durable Streams included');
  const o = readOptions(durableOptions, env);
  return { ...o, base: o.base.replace(/\/+$/, ''), heartbeatMs };
}
