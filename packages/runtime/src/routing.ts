import { readFileSync } from 'node:fs';
import { ConfigError } from '@tokencast/engine';

/**
 * Which model names this deployment serves, by what, and on which job queue: plain data, read
 * once at start-up. The edge reads it to refuse unknown models, pick the queue and list
 * GET /v1/models, without building a provider; the producer builds its providers from it.
 *
 * Its settings (MOCK_MODELS, UPSTREAM_URL, UPSTREAM_API_KEY, UPSTREAM_MODELS, MODELS_FILE) are
 * declared in config/shared.ts.
 *
 * MODELS_FILE: {"models": {"<name>": {"mock": true} | {"upstreams": [{"type": "openai"|"anthropic"|"responses",
 * "url": "…", "api_key_env": "VAR" (or "api_key": "…"), "weight": 1, "max_concurrency": 0,
 * "model": "<name upstream>"}]}, plus optionally "queue": "<queue name>"}}
 * A model with a queue is served only by producers that take that queue (PRODUCER_QUEUES).
 */
export interface UpstreamRoute {
  /** openai: Chat Completions; anthropic: Messages; responses: the OpenAI Responses API. */
  type: 'openai' | 'anthropic' | 'responses';
  /** Base URL, http(s). */
  url: string;
  /** Sent as the upstream's API key; empty: none. */
  apiKey: string;
  /** Share of the model's requests, relative to its other upstreams. */
  weight: number;
  /** Requests this upstream runs at once; 0: no limit. */
  maxConcurrency: number;
  /** The model name sent upstream; null: the name the client asked for. */
  upstreamModel: string | null;
}

/** What serves one model name: the mock, the UPSTREAM_URL upstream, or a MODELS_FILE pool. */
export type ModelRoute = { kind: 'mock' } | { kind: 'upstream' } | { kind: 'pool'; upstreams: readonly UpstreamRoute[] };

/** The default upstream (UPSTREAM_URL), OpenAI-compatible. */
export interface DefaultUpstream {
  url: string;
  apiKey: string;
  /** Names sent to it; empty: every name not served otherwise. */
  models: readonly string[];
}

export interface RoutingSources {
  /** MOCK_MODELS; null (unset): ["mock", "mock-reasoning"] (the second reasons before it answers). */
  mockModels: readonly string[] | null;
  upstream: DefaultUpstream | null;
  /** MODELS_FILE's path; null: none. */
  modelsFile: string | null;
  /** Where MODELS_FILE's api_key_env names are looked up. */
  secrets: Record<string, string | undefined>;
}

const QUEUE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export class ModelRouting {
  private readonly mockNames: readonly string[];
  private readonly mockSet: ReadonlySet<string>;
  private readonly upstreamSet: ReadonlySet<string>;

  constructor(
    /** Models named in MODELS_FILE: what serves each and its queue (null: 'default'). */
    private readonly routed: ReadonlyMap<string, { route: ModelRoute; queue: string | null }>,
    mockNames: readonly string[],
    readonly upstream: DefaultUpstream | null,
  ) {
    this.mockNames = mockNames;
    this.mockSet = new Set(mockNames);
    this.upstreamSet = new Set(upstream?.models ?? []);
  }

  /** What serves a model name; null when the name is not served here. */
  routeFor(model: string): ModelRoute | null {
    const r = this.routed.get(model);
    if (r) return r.route;
    if (this.mockSet.has(model)) return { kind: 'mock' };
    if (this.upstream && (this.upstreamSet.size === 0 || this.upstreamSet.has(model))) return { kind: 'upstream' };
    return null;
  }

  serves(model: string): boolean {
    return this.routeFor(model) !== null;
  }

  /** The job queue a model's generations go to ('default' unless MODELS_FILE names one). */
  queueFor(model: string): string {
    return this.routed.get(model)?.queue ?? 'default';
  }

  /** Every queue some model is routed to (always includes 'default'). */
  queues(): string[] {
    const named = [...this.routed.values()].flatMap((r) => (r.queue ? [r.queue] : []));
    return [...new Set(['default', ...named])];
  }

  /** Names to list at GET /v1/models; "*" stands for "any name" (upstream pass-through). */
  names(): string[] {
    const upstreamNames = this.upstream ? (this.upstream.models.length ? this.upstream.models : ['*']) : [];
    return [...new Set([...this.routed.keys(), ...this.mockNames, ...upstreamNames])];
  }

  /** Every MODELS_FILE pool, by model name (the producer builds one provider per pool). */
  pools(): [string, readonly UpstreamRoute[]][] {
    const out: [string, readonly UpstreamRoute[]][] = [];
    for (const [name, r] of this.routed) if (r.route.kind === 'pool') out.push([name, r.route.upstreams]);
    return out;
  }
}

interface UpstreamSpec {
  type?: unknown;
  url?: unknown;
  api_key?: unknown;
  api_key_env?: unknown;
  weight?: unknown;
  max_concurrency?: unknown;
  model?: unknown;
}

function upstreamRoute(spec: UpstreamSpec, secrets: RoutingSources['secrets'], where: string): UpstreamRoute {
  if (typeof spec.url !== 'string' || !/^https?:\/\//.test(spec.url)) throw new ConfigError(`${where}: url must be an http(s) URL`);
  const type = spec.type ?? 'openai';
  if (type !== 'openai' && type !== 'anthropic' && type !== 'responses') throw new ConfigError(`${where}: type must be "openai", "anthropic" or "responses"`);
  const apiKey = typeof spec.api_key_env === 'string' ? (secrets[spec.api_key_env] ?? '') : typeof spec.api_key === 'string' ? spec.api_key : '';
  const weight = spec.weight ?? 1;
  if (typeof weight !== 'number' || !(weight > 0)) throw new ConfigError(`${where}: weight must be a number > 0`);
  const maxConcurrency = spec.max_concurrency ?? 0;
  if (typeof maxConcurrency !== 'number' || !Number.isInteger(maxConcurrency) || maxConcurrency < 0) throw new ConfigError(`${where}: max_concurrency must be an integer ≥ 0`);
  return { type, url: spec.url, apiKey, weight, maxConcurrency, upstreamModel: typeof spec.model === 'string' ? spec.model : null };
}

function routesFromFile(path: string, secrets: RoutingSources['secrets']): Map<string, { route: ModelRoute; queue: string | null }> {
  let parsed: { models?: Record<string, { mock?: boolean; upstreams?: UpstreamSpec[]; queue?: unknown }> };
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`MODELS_FILE ${path}: ${(err as Error).message}`);
  }
  const out = new Map<string, { route: ModelRoute; queue: string | null }>();
  for (const [name, def] of Object.entries(parsed.models ?? {})) {
    if (def.queue !== undefined && (typeof def.queue !== 'string' || !QUEUE_NAME.test(def.queue)))
      throw new ConfigError(`MODELS_FILE: ${name}.queue must be 1-64 of [A-Za-z0-9_.-]`);
    const queue = typeof def.queue === 'string' ? def.queue : null;
    if (def.mock) {
      out.set(name, { route: { kind: 'mock' }, queue });
      continue;
    }
    const specs = def.upstreams ?? [];
    if (specs.length === 0) throw new ConfigError(`MODELS_FILE: model ${name} has no upstreams`);
    const upstreams = specs.map((s, i) => upstreamRoute(s, secrets, `MODELS_FILE: ${name}.upstreams[${i}]`));
    out.set(name, { route: { kind: 'pool', upstreams }, queue });
  }
  return out;
}

/** Reads MODELS_FILE (once) and combines it with the other routing settings. */
export function createRouting(s: RoutingSources): ModelRouting {
  const routed = s.modelsFile ? routesFromFile(s.modelsFile, s.secrets) : new Map();
  return new ModelRouting(routed, s.mockModels ?? ['mock', 'mock-reasoning'], s.upstream);
}
