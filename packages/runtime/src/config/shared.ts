import { ConfigError, clusterSeeds, type EngineConfig } from '@tokencast/engine';
import { createRouting, type ModelRouting } from '../routing.js';
import { bool, type Env, int, list, type Options, oneOf, optional, readOptions, str } from './options.js';

/** Settings every process reads: logging, where it listens, how it stops. */
export const processOptions = {
  logLevel: oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info', why: 'pino level of the JSON log lines' }),
  host: str('HOST', { default: '0.0.0.0', why: "address the edge (and a producer's METRICS_PORT server) listens on" }),
  shutdownGraceMs: int('SHUTDOWN_GRACE_MS', {
    default: 10_000,
    unit: 'ms',
    why: 'on SIGTERM the process exits within this: an edge tells clients to reconnect elsewhere, a producer finishes or hands back its jobs',
    zero: '0: exit at once',
  }),
} as const;
export type ProcessConfig = Options<typeof processOptions>;

/** Where generations live: the memory engine or Redis. Read by every process. */
export const engineOptions = {
  redisUrl: optional('REDIS_URL', {
    why: 'Redis to use; `npm run edge` / `npm run producer` refuse to start without it',
    zero: 'Unset: `npm start` uses the in-process memory engine',
  }),
  cluster: bool('REDIS_CLUSTER', { default: false, why: '`REDIS_URL` lists seed nodes of a Redis Cluster, comma-separated' }),
  clusterBells: int('REDIS_CLUSTER_BELLS', {
    default: 8,
    min: 1,
    max: 1_024,
    why: 'cluster mode: doorbell shards (sharded pub/sub channels); each producer rings one of its own, each edge subscribes to every shard on its master (an idle edge costs about 2 commands per shard per `REDIS_BLOCK_MS`: a PING and a slot check). Every edge and producer of a deployment must use the same number',
  }),
  prefix: str('TOKENCAST_KEY_PREFIX', { default: 'tc', why: 'prefix of every Redis key (several deployments can share one Redis)' }),
  ttlSeconds: int('GENERATION_TTL_SECONDS', { default: 86_400, min: 1, unit: 's', why: "a generation's stream and metadata live this long after their last write" }),
  blockMs: int('REDIS_BLOCK_MS', {
    default: 5_000,
    min: 10,
    unit: 'ms',
    why: 'BLOCK of blocking reads (XREAD, XREADGROUP), and how often an edge PINGs its doorbell subscription: how often an idle reader wakes',
  }),
  watchdogMarginMs: int('REDIS_WATCHDOG_MARGIN_MS', {
    default: 5_000,
    min: 100,
    unit: 'ms',
    why: 'a blocking read that outlives BLOCK by this is abandoned and its connection recycled (half-open TCP)',
  }),
  appendBatchMs: int('REDIS_APPEND_BATCH_MS', {
    // 5 ms, throttled (bench/results/tier/2026-12-03T03-38-38Z.json and …03-41-17Z.json, 3 runs
    // each): at 600 generations × 20 tokens/s 0.92× the Redis CPU per token of the 2 ms debounce
    // it replaces; at 100 generations delivery lag p99 7.5 ms against 5.4, within issue #13's 5 ms.
    default: 5,
    min: 0,
    max: 50,
    unit: 'ms',
    why: "least time between two flushes of a producer's appends (to within a turn of its event loop: a timer may fire that much early): an append after a quiet spell goes out at once, appends under load share one flush (one pipeline and one doorbell ring per window, each costing Redis a wake); adds at most this much delivery latency",
    zero: '0: every turn of the event loop',
  }),
  commandTimeoutMs: int('REDIS_COMMAND_TIMEOUT_MS', { default: 5_000, unit: 'ms', why: 'timeout of ordinary Redis commands', zero: '0: none' }),
  allowEviction: bool('REDIS_ALLOW_EVICTION', {
    default: false,
    why: "start even when Redis's `maxmemory-policy` is not `noeviction` (Redis may then delete live generations)",
  }),
} as const;

/** The engine settings; REDIS_URL and REDIS_CLUSTER are checked together. */
export function engineConfig(env: Env): EngineConfig {
  const c = readOptions(engineOptions, env);
  if (c.redisUrl && c.cluster) {
    try {
      clusterSeeds(c.redisUrl);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  } else if (c.redisUrl?.includes(',')) {
    throw new ConfigError('REDIS_URL names several servers: set REDIS_CLUSTER=true for a Redis Cluster');
  }
  if (c.cluster && !c.redisUrl) throw new ConfigError('REDIS_CLUSTER=true needs REDIS_URL (the cluster nodes, comma-separated)');
  return c;
}

const httpUrl = (v: string) => (/^https?:\/\//.test(v) ? null : 'an http(s) URL');

/** Which models are served and where (see routing.ts). Read by every process: the edge routes, the producer serves. */
export const routingOptions = {
  mockModels: list('MOCK_MODELS', {
    default: ['mock', 'mock-reasoning'],
    why: 'model names served by the built-in deterministic mock; `mock-reasoning` streams reasoning (with a signature) before its answer',
    zero: 'Empty: no mock',
  }),
  upstreamUrl: optional('UPSTREAM_URL', {
    type: 'URL',
    check: httpUrl,
    why: 'base URL of an OpenAI-compatible server, e.g. `http://127.0.0.1:8000/v1` (llama.cpp server, vLLM, Ollama, OpenAI)',
    zero: 'Unset: no upstream',
  }),
  upstreamApiKey: str('UPSTREAM_API_KEY', { default: '', why: 'sent to `UPSTREAM_URL` as a Bearer token', zero: 'Unset: none' }),
  upstreamModels: list('UPSTREAM_MODELS', { why: 'model names sent to `UPSTREAM_URL`', zero: 'Unset or empty: every name not served otherwise' }),
  modelsFile: optional('MODELS_FILE', {
    type: 'path',
    why: 'JSON routing table: model → mock or upstreams (`type` openai: Chat Completions, anthropic: Messages, responses: the Responses API; weights, concurrency) and its queue; see `packages/runtime/src/routing.ts`. Its names win over the settings above',
  }),
} as const;

/** The routing table, MODELS_FILE read once. `env` is also where MODELS_FILE's `api_key_env` names are looked up. */
export function routingConfig(env: Env): ModelRouting {
  const c = readOptions(routingOptions, env);
  return createRouting({
    mockModels: c.mockModels,
    upstream: c.upstreamUrl ? { url: c.upstreamUrl, apiKey: c.upstreamApiKey, models: c.upstreamModels } : null,
    modelsFile: c.modelsFile,
    secrets: env,
  });
}

/** What every process reads: itself, its engine and the model routing. */
export interface SharedConfig {
  process: ProcessConfig;
  engine: EngineConfig;
  routing: ModelRouting;
}

export function sharedConfig(env: Env): SharedConfig {
  return { process: readOptions(processOptions, env), engine: engineConfig(env), routing: routingConfig(env) };
}

/** Declared here and read at start-up by every process: for README's table. */
export const sharedSections = [
  { title: 'Every process', readBy: 'Read by the edge, the producer and `npm start`.', options: processOptions },
  { title: 'Storage (Redis)', readBy: 'Read by the edge, the producer and `npm start`.', options: engineOptions },
  {
    title: 'Models',
    readBy: 'Read by the edge (to refuse unknown models, pick the queue and list `/v1/models`) and the producer (to serve them).',
    options: routingOptions,
  },
] as const;
