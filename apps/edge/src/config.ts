import { hostname } from 'node:os';
import { envInt, envList, envString } from '@tokencast/engine';
import { DEFAULT_MAX_MEDIA_BYTES } from '@tokencast/protocol';

type Env = Record<string, string | undefined>;

/** Edge settings; every one comes from the environment (README.md lists them). */
export interface EdgeConfig {
  host: string;
  port: number;
  /** Largest request body accepted, bytes. */
  bodyLimitBytes: number;
  maxTokensCap: number;
  maxPromptChars: number;
  /** Decoded bytes of all data-URL images and audio in one request. */
  maxMediaBytes: number;
  heartbeatMs: number;
  stallTimeoutMs: number;
  windowSize: number;
  readBatch: number;
  lingerMs: number;
  livenessCheckMs: number;
  /** On SIGTERM: stop accepting, tell viewers to reconnect, exit within this, ms. */
  shutdownGraceMs: number;
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
  /** HMAC secret for read tokens; empty: a random one per process (tokens then work on this edge only). */
  readTokenSecret: string;
  readTokenTtlSeconds: number;
  /** How long key lookups and revocations are cached, ms (bounds how long a revoked key works). */
  authCacheMs: number;
  requestsPerMinute: number;
  streamsPerKey: number;
  streamsPerIp: number;
  maxQueueDepth: number;
  /** This edge's name (presence marks, X-Edge header); default host-pid. */
  instance: string;
  /** on_disconnect=cancel: how long without any viewer before the generation is cancelled, ms. */
  lastViewerGraceMs: number;
  /** EDGE_DEBUG_STATS=1: serve GET /debug/stats (counts of what the edge holds). */
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
}

export function edgeConfigFromEnv(env: Env): EdgeConfig {
  return {
    host: envString(env, 'HOST', '0.0.0.0'),
    port: envInt(env, 'PORT', 8080, 0, 65_535),
    bodyLimitBytes: envInt(env, 'BODY_LIMIT_BYTES', 1_048_576, 1),
    maxTokensCap: envInt(env, 'MAX_TOKENS_CAP', 32_768, 1),
    maxPromptChars: envInt(env, 'MAX_PROMPT_CHARS', 200_000, 1),
    maxMediaBytes: envInt(env, 'MAX_INPUT_MEDIA_BYTES', DEFAULT_MAX_MEDIA_BYTES, 0),
    heartbeatMs: envInt(env, 'HEARTBEAT_MS', 15_000, 10),
    stallTimeoutMs: envInt(env, 'STALL_TIMEOUT_MS', 30_000, 10),
    windowSize: envInt(env, 'EDGE_WINDOW_EVENTS', 4_096, 1),
    readBatch: envInt(env, 'EDGE_READ_BATCH', 512, 1, 100_000),
    lingerMs: envInt(env, 'EDGE_CHANNEL_LINGER_MS', 5_000, 0),
    livenessCheckMs: envInt(env, 'EDGE_LIVENESS_CHECK_MS', 15_000, 10),
    shutdownGraceMs: envInt(env, 'SHUTDOWN_GRACE_MS', 10_000, 0),
    reconnectRetryMs: envInt(env, 'RECONNECT_RETRY_MS', 500, 0),
    wsAllowedOrigins: envList(env, 'WS_ALLOWED_ORIGINS'),
    wsMaxPayloadBytes: envInt(env, 'WS_MAX_PAYLOAD_BYTES', 65_536, 64),
    wsMaxBufferedBytes: envInt(env, 'WS_MAX_BUFFERED_BYTES', 1_048_576, 1024),
    wsMaxSubscriptions: envInt(env, 'WS_MAX_SUBSCRIPTIONS', 100, 1),
    wsMaxMessagesPerSecond: envInt(env, 'WS_MAX_MESSAGES_PER_SECOND', 100, 1),
    authRequired: env.AUTH_REQUIRED === 'true' || Boolean(env.API_KEYS) || Boolean(env.API_KEYS_FILE),
    readTokenSecret: envString(env, 'READ_TOKEN_SECRET', ''),
    readTokenTtlSeconds: envInt(env, 'READ_TOKEN_TTL_SECONDS', envInt(env, 'GENERATION_TTL_SECONDS', 86_400, 1), 1),
    authCacheMs: envInt(env, 'AUTH_CACHE_MS', 5_000, 0),
    requestsPerMinute: envInt(env, 'RATE_LIMIT_RPM', 0, 0),
    streamsPerKey: envInt(env, 'MAX_STREAMS_PER_KEY', 0, 0),
    streamsPerIp: envInt(env, 'MAX_STREAMS_PER_IP', 0, 0),
    maxQueueDepth: envInt(env, 'MAX_QUEUE_DEPTH', 0, 0),
    instance: envString(env, 'EDGE_NAME', `${hostname()}-${process.pid}`),
    lastViewerGraceMs: envInt(env, 'LAST_VIEWER_GRACE_MS', 5_000, 0),
    debugStats: env.EDGE_DEBUG_STATS === '1',
    headersTimeoutMs: envInt(env, 'HEADERS_TIMEOUT_MS', 10_000, 100),
    requestTimeoutMs: envInt(env, 'REQUEST_TIMEOUT_MS', 30_000, 100),
    keepAliveTimeoutMs: envInt(env, 'KEEP_ALIVE_TIMEOUT_MS', 65_000, 100),
    maxConnections: envInt(env, 'MAX_CONNECTIONS', 0, 0),
    corsOrigins: envList(env, 'CORS_ORIGINS'),
    cancelOnDisconnectKeys: envList(env, 'ON_DISCONNECT_CANCEL_KEYS'),
    trustProxy: env.TRUST_PROXY === 'true' ? true : env.TRUST_PROXY && env.TRUST_PROXY !== 'false' ? envList(env, 'TRUST_PROXY') : false,
  };
}
