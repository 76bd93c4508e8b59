import type { ModelRouting, UpstreamRoute } from '@tokencast/runtime';
import { AnthropicProvider } from './anthropic.js';
import { type MockOptions, MockProvider } from './mock.js';
import { OpenAICompatibleProvider } from './openai-compatible.js';
import { UpstreamPool } from './pool.js';
import type { Provider } from './provider.js';
import { ResponsesProvider } from './responses.js';

/**
 * The producer's providers, one per route of the deployment's model routing (see
 * @tokencast/runtime's routing.ts for MOCK_MODELS, UPSTREAM_URL, UPSTREAM_MODELS, MODELS_FILE).
 * Built once at start-up: each upstream provider holds its own connection pool.
 */
export interface ModelCatalog {
  /** Provider for a model name; null when the name is not served here. */
  providerFor(model: string): Provider | null;
  /** Names to list at GET /v1/models; "*" stands for "any name" (upstream pass-through). */
  names(): string[];
  /** The job queue a model's generations go to ('default' unless MODELS_FILE names one). */
  queueFor(model: string): string;
  /** Every queue some model is routed to (always includes 'default'). */
  queues(): string[];
  close(): Promise<void>;
}

export interface ProviderOptions {
  mock: MockOptions;
  /** Upstream timeouts, ms. */
  connectTimeoutMs: number;
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
  /** Largest SSE event taken from an upstream, bytes. */
  maxEventBytes: number;
}

function upstreamProvider(u: UpstreamRoute, o: ProviderOptions): Provider {
  const t = { connectTimeoutMs: o.connectTimeoutMs, firstTokenTimeoutMs: o.firstTokenTimeoutMs, idleTimeoutMs: o.idleTimeoutMs, maxEventBytes: o.maxEventBytes };
  if (u.type === 'anthropic') return new AnthropicProvider({ baseUrl: u.url, apiKey: u.apiKey, ...t, defaultMaxTokens: 4096 });
  if (u.type === 'responses') return new ResponsesProvider({ baseUrl: u.url, apiKey: u.apiKey, ...t });
  return new OpenAICompatibleProvider({ baseUrl: u.url, apiKey: u.apiKey, ...t });
}

export function createCatalog(routing: ModelRouting, o: ProviderOptions): ModelCatalog {
  const mock = new MockProvider(o.mock);
  const upstream = routing.upstream
    ? upstreamProvider({ type: 'openai', url: routing.upstream.url, apiKey: routing.upstream.apiKey, weight: 1, maxConcurrency: 0, upstreamModel: null }, o)
    : null;
  const pools = new Map<string, Provider>();
  for (const [name, upstreams] of routing.pools()) {
    pools.set(
      name,
      new UpstreamPool(upstreams.map((u) => ({ provider: upstreamProvider(u, o), weight: u.weight, maxConcurrency: u.maxConcurrency, upstreamModel: u.upstreamModel }))),
    );
  }
  return {
    providerFor(model) {
      const route = routing.routeFor(model);
      if (route === null) return null;
      if (route.kind === 'mock') return mock;
      if (route.kind === 'upstream') return upstream;
      return pools.get(model) ?? null;
    },
    queueFor: (model) => routing.queueFor(model),
    queues: () => routing.queues(),
    names: () => routing.names(),
    async close() {
      const all = new Set<Provider>([...pools.values(), ...(upstream ? [upstream] : [])]);
      for (const p of all) await p.close();
    },
  };
}
