import { hostname } from 'node:os';
import { DEFAULT_MAX_MEDIA_BYTES } from '@tokencast/protocol';
import {
  bool,
  type ConfigSection,
  custom,
  type Env,
  engineOptions,
  int,
  list,
  optional,
  parseBool,
  processOptions,
  readOptions,
  type SharedConfig,
  sharedConfig,
  str,
} from '@tokencast/runtime';
import { keysFromConfig } from './access/api-keys.js';
import { type DurableConfig, durableConfig, durableOptions } from './durable/config.js';

/** The edge's own settings (it also reads the shared ones: @tokencast/runtime config/shared.ts). */
export const edgeOptions = {
  port: int('PORT', { default: 8080, max: 65_535, why: 'where the edge listens (HOST is the address)', zero: '0: any free port' }),
  bodyLimitBytes: int('BODY_LIMIT_BYTES', {
    default: 1_048_576,
    min: 1,
    unit: 'bytes',
    why: 'largest request body (413 above; a larger body is still read, up to 16 MiB or 4 × this, so the client gets the 413 and not a reset connection)',
  }),
  maxJsonDepth: int('MAX_JSON_DEPTH', {
    default: 1_000,
    min: 2,
    max: 10_000,
    why: 'deepest nesting of arrays and objects in a JSON request body (400 `json_too_deep` above), checked before anything parses it, far below where recursive code would overflow the stack; the request parsers then allow 64 levels in tool schemas and inputs and name the field that is deeper',
  }),
  maxTokensCap: int('MAX_TOKENS_CAP', { default: 32_768, min: 1, why: 'largest `max_tokens` accepted' }),
  maxPromptChars: int('MAX_PROMPT_CHARS', {
    default: 200_000,
    min: 1,
    why: 'largest prompt in characters: every string the caller sent counts (message text, names, tool calls and their arguments, tool definitions and JSON schemas, image URLs); data URLs and audio count toward `MAX_INPUT_MEDIA_BYTES` instead',
  }),
  maxMediaBytes: int('MAX_INPUT_MEDIA_BYTES', {
    default: DEFAULT_MAX_MEDIA_BYTES,
    unit: 'bytes',
    why: 'decoded bytes of all data-URL images and `input_audio` in one request (400 `media_too_large` above); raise `BODY_LIMIT_BYTES` with it, base64 is 4/3 of the bytes',
  }),
  heartbeatMs: int('HEARTBEAT_MS', { default: 15_000, min: 10, unit: 'ms', why: "SSE comment heartbeat to idle clients (keep it well under proxies' idle timeouts)" }),
  stallTimeoutMs: int('STALL_TIMEOUT_MS', { default: 30_000, min: 10, unit: 'ms', why: 'a client whose socket has not drained for this long is disconnected (it can resume)' }),
  windowSize: int('EDGE_WINDOW_EVENTS', { default: 4_096, min: 1, why: 'recent events an edge keeps per generation for viewers slightly behind' }),
  windowBytes: int('EDGE_WINDOW_BYTES', {
    default: 8_388_608,
    unit: 'bytes',
    why: 'encoded bytes an edge keeps per generation in that window; an event larger than this is delivered live but not kept (viewers behind it read it from Redis)',
    zero: '0: no byte bound',
  }),
  readBatch: int('EDGE_READ_BATCH', { default: 512, min: 1, max: 100_000, why: 'events per catch-up read' }),
  lingerMs: int('EDGE_CHANNEL_LINGER_MS', { default: 5_000, unit: 'ms', why: 'how long an unwatched generation stays warm on an edge', zero: '0: dropped at once' }),
  livenessCheckMs: int('EDGE_LIVENESS_CHECK_MS', { default: 15_000, min: 10, unit: 'ms', why: 'a live generation silent this long is checked to still exist' }),
  drainDelayMs: int('DRAIN_DELAY_MS', {
    default: 0,
    unit: 'ms',
    why: 'on SIGTERM, how long `/readyz` answers 503 before the edge stops accepting (for balancers that poll it, e.g. Kubernetes: 5000); part of SHUTDOWN_GRACE_MS',
    zero: '0: stop accepting at once',
  }),
  reconnectRetryMs: int('RECONNECT_RETRY_MS', { default: 500, unit: 'ms', why: 'the `retry:` hint sent to clients when an edge drains' }),
  trustProxy: custom('TRUST_PROXY', {
    type: 'boolean or list',
    shown: 'false',
    why: "whose `X-Forwarded-For` to believe for the client address (per-address limits, logs): `true` (any hop) or proxy addresses/CIDRs; behind nginx, set it to nginx's address",
    parse: (v): boolean | string[] => {
      if (v === undefined) return false;
      if (/^(true|1|yes|false|0|no)$/i.test(v)) return parseBool('TRUST_PROXY', v);
      return v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    },
  }),
  apiKeys: optional('API_KEYS', { type: 'list', why: '`name:key,name2:key2`: keys are required once any is configured' }),
  apiKeysFile: optional('API_KEYS_FILE', { type: 'path', why: 'a file of keys: JSON `{"name":"key"}` or lines `name key`' }),
  authRequired: bool('AUTH_REQUIRED', { default: false, why: 'require keys even when none is configured here (keys kept in Redis only)' }),
  readTokenSecret: str('READ_TOKEN_SECRET', {
    default: '',
    shown: 'random per process',
    why: 'HMAC secret of read tokens; set the same value on every edge',
    zero: 'Unset: a random one per process (tokens then work on that edge only)',
  }),
  readTokenTtlSeconds: int('READ_TOKEN_TTL_SECONDS', { default: 0, unit: 's', why: 'lifetime of read tokens', zero: '0: GENERATION_TTL_SECONDS' }),
  authCacheMs: int('AUTH_CACHE_MS', {
    default: 5_000,
    unit: 'ms',
    why: 'key lookups and revocations are cached this long: a revoked key, the read tokens it issued and the streams they hold open stop working within it',
    zero: '0: no cache',
  }),
  requestsPerMinute: int('RATE_LIMIT_RPM', { default: 0, why: 'requests per minute per key (per address without keys), shared by all edges through Redis', zero: '0: no limit' }),
  streamsPerKey: int('MAX_STREAMS_PER_KEY', { default: 0, why: 'open streams per API key, per edge', zero: '0: no limit' }),
  streamsPerIp: int('MAX_STREAMS_PER_IP', { default: 0, why: 'open streams per client address, per edge', zero: '0: no limit' }),
  maxQueueDepth: int('MAX_QUEUE_DEPTH', { default: 0, why: 'waiting jobs above which new generations get 503 with `Retry-After`', zero: '0: no limit' }),
  cancelOnDisconnectKeys: list('ON_DISCONNECT_CANCEL_KEYS', {
    why: 'names of API keys whose generations default to `on_disconnect: "cancel"` (a request may still say "continue")',
  }),
  lastViewerGraceMs: int('LAST_VIEWER_GRACE_MS', { default: 5_000, unit: 'ms', why: '`on_disconnect: "cancel"`: how long with no viewer anywhere before the cancel' }),
  instance: str('EDGE_NAME', { default: '', shown: '`<host>-<pid>`', why: "this edge's name (presence marks, `X-Edge` header)" }),
  headersTimeoutMs: int('HEADERS_TIMEOUT_MS', { default: 10_000, min: 100, unit: 'ms', why: 'a client must send its request head within this (slow-header attacks)' }),
  requestTimeoutMs: int('REQUEST_TIMEOUT_MS', {
    default: 30_000,
    min: 100,
    unit: 'ms',
    why: 'a client must send its whole request within this; streamed responses are not bounded by it',
  }),
  keepAliveTimeoutMs: int('KEEP_ALIVE_TIMEOUT_MS', { default: 65_000, min: 100, unit: 'ms', why: 'idle keep-alive connections are closed after this' }),
  maxConnections: int('MAX_CONNECTIONS', { default: 0, why: 'open connections one edge accepts', zero: '0: no limit (the OS file limit still applies)' }),
  corsOrigins: list('CORS_ORIGINS', { why: 'browser origins allowed to call the API, on every route (Durable Streams included; `*`: any)', zero: 'Unset: no CORS headers' }),
  wsAllowedOrigins: list('WS_ALLOWED_ORIGINS', { why: "browser origins allowed to open a WebSocket (`*`: any); the edge's own host always is" }),
  wsMaxPayloadBytes: int('WS_MAX_PAYLOAD_BYTES', { default: 65_536, min: 64, unit: 'bytes', why: 'largest WebSocket frame a client may send' }),
  wsMaxBufferedBytes: int('WS_MAX_BUFFERED_BYTES', { default: 1_048_576, min: 1024, unit: 'bytes', why: 'bytes buffered per WebSocket before its subscriptions pause' }),
  wsMaxSubscriptions: int('WS_MAX_SUBSCRIPTIONS', { default: 100, min: 1, why: 'subscriptions per WebSocket' }),
  wsMaxMessagesPerSecond: int('WS_MAX_MESSAGES_PER_SECOND', { default: 100, min: 1, why: 'client messages per second per WebSocket' }),
  debugStats: bool('EDGE_DEBUG_STATS', { default: false, why: 'serve `GET /debug/stats` (what the edge holds; for leak hunting)' }),
} as const;

export const edgeSections: ConfigSection[] = [
  { title: 'Edge', readBy: 'Read by the edge and `npm start`.', options: edgeOptions },
  { title: 'Durable Streams', readBy: 'Read by the edge and `npm start` (README, "Durable Streams").', options: durableOptions },
];

/** Edge settings, read once at start-up (README.md's table lists them). */
export interface EdgeConfig {
  host: string;
  port: number;
  /** Largest request body accepted, bytes. */
  bodyLimitBytes: number;
  /** Deepest nesting of arrays/objects in a JSON body (deeper: 400 json_too_deep). */
  maxJsonDepth: number;
  maxTokensCap: number;
  maxPromptChars: number;
  /** Decoded bytes of all data-URL images and audio in one request. */
  maxMediaBytes: number;
  heartbeatMs: number;
  stallTimeoutMs: number;
  windowSize: number;
  /** Bytes of encoded frames kept per generation's window; 0: no byte bound. */
  windowBytes: number;
  readBatch: number;
  lingerMs: number;
  livenessCheckMs: number;
  /** On SIGTERM: stop accepting, tell viewers to reconnect, exit within this, ms. */
  shutdownGraceMs: number;
  /** Part of shutdownGraceMs: /readyz says 503 this long before the listener closes, ms; 0: close at once. */
  drainDelayMs: number;
  /** The `retry:` hint sent to viewers when this edge drains, ms. */
  reconnectRetryMs: number;
  /** Browser origins allowed to open a WebSocket ("*": any); the edge's own host always is. */
  wsAllowedOrigins: string[];
  wsMaxPayloadBytes: number;
  wsMaxBufferedBytes: number;
  wsMaxSubscriptions: number;
  wsMaxMessagesPerSecond: number;
  /** Keys are required when any is configured (API_KEYS / API_KEYS_FILE) or AUTH_REQUIRED=true. */
  authRequired: boolean;
  /** API keys from API_KEYS / API_KEYS_FILE, sha256 hash → name; empty: none. */
  envKeys: Map<string, string>;
  /** HMAC secret for read tokens; empty: a random one per process (tokens then work on this edge only). */
  readTokenSecret: string;
  readTokenTtlSeconds: number;
  /** How long key lookups and revocations are cached, ms (bounds how long a revoked key works). */
  authCacheMs: number;
  /** 0: no limit (the same for the three below). */
  requestsPerMinute: number;
  streamsPerKey: number;
  streamsPerIp: number;
  maxQueueDepth: number;
  /** This edge's name (presence marks, X-Edge header); default host-pid. */
  instance: string;
  /** on_disconnect=cancel: how long without any viewer before the generation is cancelled, ms. */
  lastViewerGraceMs: number;
  /** Serve GET /debug/stats (counts of what the edge holds). */
  debugStats: boolean;
  /** A client must send its whole request head within this, ms (slow-header attacks). */
  headersTimeoutMs: number;
  /** …and its whole request (head and body) within this, ms. Responses (streams) are not bounded by it. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this, ms. */
  keepAliveTimeoutMs: number;
  /** Open connections one edge accepts; 0: no limit (the OS file limit still applies). */
  maxConnections: number;
  /**
   * Whose X-Forwarded-For to believe for the client address (per-address limits, logs): false,
   * true (any hop), or a list of proxy addresses/CIDRs. Behind nginx, set it to nginx's address.
   */
  trustProxy: boolean | string[];
  /** Browser origins allowed by CORS ("*": any); empty: no CORS headers. */
  corsOrigins: string[];
  /** Names of API keys whose generations default to on_disconnect "cancel" (a request may still say "continue"). */
  cancelOnDisconnectKeys: string[];
  durable: DurableConfig;
}

/** The edge's settings alone (tests that build an edge in their own process). */
export function edgeConfigFromEnv(env: Env): EdgeConfig {
  const { apiKeys, apiKeysFile, authRequired, instance, readTokenTtlSeconds, ...o } = readOptions(edgeOptions, env);
  const envKeys = keysFromConfig(apiKeys, apiKeysFile);
  const proc = readOptions(processOptions, env);
  return {
    ...o,
    host: proc.host,
    shutdownGraceMs: proc.shutdownGraceMs,
    authRequired: authRequired || envKeys.size > 0 || apiKeys !== null || apiKeysFile !== null,
    envKeys,
    instance: instance || `${hostname()}-${process.pid}`,
    readTokenTtlSeconds: readTokenTtlSeconds || engineOptions.ttlSeconds.parse(env),
    durable: durableConfig(env, o.heartbeatMs),
  };
}

/** Everything an edge process reads, once, at start-up. */
export function edgeProcessConfig(env: Env): SharedConfig & { edge: EdgeConfig } {
  return { ...sharedConfig(env), edge: edgeConfigFromEnv(env) };
}
