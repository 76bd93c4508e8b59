import { hostname } from 'node:os';
import { type ConfigSection, type Env, engineOptions, int, list, num, oneOf, readOptions, routingConfig, type SharedConfig, sharedConfig, str } from '@tokencast/runtime';
import { createCatalog, type ModelCatalog, type ProviderOptions } from './providers/catalog.js';
import type { WorkerOptions } from './worker.js';

const QUEUE = { pattern: /^[A-Za-z0-9_.-]{1,64}$/, what: 'queue names (1-64 of [A-Za-z0-9_.-])' };

/** The producer's own settings (it also reads the shared ones: @tokencast/runtime config/shared.ts). */
export const producerOptions = {
  name: str('PRODUCER_NAME', { default: '', shown: '`<host>-<pid>-<random>`', why: "this producer's consumer name in the queue's group; unique per process" }),
  concurrency: int('PRODUCER_CONCURRENCY', { default: 16, min: 1, max: 100_000, why: 'generations one producer process runs at once' }),
  queues: list('PRODUCER_QUEUES', {
    default: ['default'],
    item: QUEUE,
    why: 'the job queues this producer takes from; a model routed to its own queue (`"queue"` in `MODELS_FILE`) is served only by producers that take it',
  }),
  reclaimIdleMs: int('RECLAIM_IDLE_MS', { default: 30_000, min: 100, unit: 'ms', why: 'a job whose producer has been silent this long is reclaimed by another' }),
  reclaimPolicy: oneOf('RECLAIM_POLICY', ['continue', 'fail'], {
    default: 'continue',
    why: 'a reclaimed generation with events: `continue` where the model can reproduce its text (the mock), else end it with `producer_lost`; `fail` always ends it',
  }),
  maxDeliveries: int('MAX_DELIVERIES', { default: 3, min: 1, why: 'a job delivered more often than this is dead-lettered and its generation failed' }),
  writeRetryBudgetMs: int('WRITE_RETRY_BUDGET_MS', { default: 30_000, unit: 'ms', why: 'how long a producer retries appends while Redis is unreachable', zero: '0: no retry' }),
  metricsPort: int('METRICS_PORT', { default: 0, max: 65_535, why: 'a standalone producer serves `/metrics` and `/healthz` on this port', zero: '0: no server' }),
  mockTokensPerSecond: num('MOCK_TOKENS_PER_SECOND', { default: 50, min: 0.001, unit: 'tokens/s', why: 'speed of the built-in mock model' }),
  mockTtftMs: int('MOCK_TTFT_MS', { default: 150, unit: 'ms', why: "the mock's time to first token" }),
  upstreamConnectTimeoutMs: int('UPSTREAM_CONNECT_TIMEOUT_MS', {
    default: 5_000,
    min: 1,
    unit: 'ms',
    why: 'an upstream that does not accept the connection within this is failed (the next one is tried)',
  }),
  upstreamFirstTokenTimeoutMs: int('UPSTREAM_FIRST_TOKEN_TIMEOUT_MS', {
    default: 60_000,
    min: 1,
    unit: 'ms',
    why: 'an upstream that sends no content (text, reasoning, tool call) within this of the request is failed (the next one is tried)',
  }),
  upstreamMaxEventBytes: int('UPSTREAM_MAX_EVENT_BYTES', {
    default: 1_048_576,
    min: 1024,
    unit: 'bytes',
    why: 'largest SSE event (its data) taken from an upstream; a larger one fails the generation with `upstream_event_too_large`',
  }),
  upstreamIdleTimeoutMs: int('UPSTREAM_IDLE_TIMEOUT_MS', {
    default: 30_000,
    min: 1,
    unit: 'ms',
    why: 'an upstream silent this long between tokens ends the generation with an error',
  }),
} as const;

export const producerSection: ConfigSection = { title: 'Producer', readBy: 'Read by the producer and `npm start`.', options: producerOptions };

export interface ProducerConfig {
  worker: WorkerOptions & { queues: string[] };
  providers: ProviderOptions;
  /** 0: no metrics server. */
  metricsPort: number;
}

/** The producer's own settings (without the shared ones). */
export function producerSettings(env: Env): ProducerConfig {
  const o = readOptions(producerOptions, env);
  const suffix = Math.random().toString(36).slice(2, 8);
  return {
    worker: {
      name: o.name || `${hostname()}-${process.pid}-${suffix}`,
      concurrency: o.concurrency,
      reclaimIdleMs: o.reclaimIdleMs,
      maxDeliveries: o.maxDeliveries,
      reclaimPolicy: o.reclaimPolicy,
      // The queue read blocks as long as every other blocking read (REDIS_BLOCK_MS).
      takeBlockMs: engineOptions.blockMs.parse(env),
      writeRetryBudgetMs: o.writeRetryBudgetMs,
      queues: o.queues,
    },
    providers: {
      mock: { tokensPerSecond: o.mockTokensPerSecond, ttftMs: o.mockTtftMs },
      connectTimeoutMs: o.upstreamConnectTimeoutMs,
      firstTokenTimeoutMs: o.upstreamFirstTokenTimeoutMs,
      idleTimeoutMs: o.upstreamIdleTimeoutMs,
      maxEventBytes: o.upstreamMaxEventBytes,
    },
    metricsPort: o.metricsPort,
  };
}

/** Everything a producer process reads, once, at start-up. */
export function producerConfig(env: Env): SharedConfig & { producer: ProducerConfig } {
  return { ...sharedConfig(env), producer: producerSettings(env) };
}

/** The worker settings alone (tests that run a Worker in their own process). */
export function workerOptionsFromEnv(env: Env): WorkerOptions & { queues: string[] } {
  return producerSettings(env).worker;
}

/** The provider settings alone (tests that build a catalog in their own process). */
export function providerOptionsFromEnv(env: Env): ProviderOptions {
  return producerSettings(env).providers;
}

/** Routing and providers from one environment (tests that run a Worker in their own process). */
export function catalogFromEnv(env: Env): ModelCatalog {
  return createCatalog(routingConfig(env), providerOptionsFromEnv(env));
}
