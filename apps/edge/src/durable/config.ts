import { ConfigError, envInt, envString } from '@tokencast/engine';

type Env = Record<string, string | undefined>;

/** Durable Streams endpoint settings, from the environment (README.md, "Durable Streams"). */
export interface DurableConfig {
  /**
   * URL path the streams live under: `<base>/<name>`. Default `/v1/stream`, the layout the
   * protocol's examples, its reference server and its conformance suite use, so clients written
   * for those work unchanged. Generations are read-only streams at `<base>/generations/<id>`.
   */
  base: string;
  /** How long a long-poll read waits for data before answering 204, ms. */
  longPollMs: number;
  /** An SSE response is ended after this long (the client reconnects from its offset), ms. */
  sseMaxMs: number;
  /** Comment line sent on an idle SSE response this often, ms. */
  heartbeatMs: number;
  /** Largest append (POST body or PUT initial body), bytes; larger ones get 413. */
  maxAppendBytes: number;
  /** A read response stops adding entries past this many bytes (one entry always fits). */
  maxReadBytes: number;
  /** Waiting readers read again this often even without a bell, ms (a safety net). */
  recheckMs: number;
  /** Access-Control-Allow-Origin on every response; `off`: no CORS headers at all. */
  corsOrigin: string;
}

export function durableConfigFromEnv(env: Env): DurableConfig {
  const base = envString(env, 'DURABLE_STREAMS_BASE', '/v1/stream').replace(/\/+$/, '');
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(base)) throw new ConfigError(`DURABLE_STREAMS_BASE must be a URL path like /v1/stream, got ${JSON.stringify(base)}`);
  return {
    base,
    longPollMs: envInt(env, 'DURABLE_STREAMS_LONG_POLL_MS', 20_000, 100, 300_000),
    sseMaxMs: envInt(env, 'DURABLE_STREAMS_SSE_MAX_MS', 60_000, 1_000),
    heartbeatMs: envInt(env, 'HEARTBEAT_MS', 15_000, 10),
    maxAppendBytes: envInt(env, 'DURABLE_STREAMS_MAX_APPEND_BYTES', 1_048_576, 1, 64 * 1_048_576),
    maxReadBytes: envInt(env, 'DURABLE_STREAMS_MAX_READ_BYTES', 1_048_576, 1),
    recheckMs: envInt(env, 'DURABLE_STREAMS_RECHECK_MS', 10_000, 50),
    corsOrigin: envString(env, 'DURABLE_STREAMS_CORS_ORIGIN', '*'),
  };
}
