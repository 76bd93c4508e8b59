import { readFileSync } from 'node:fs';
import { ConfigError, envInt, envList, envNumber, envString } from '@tokencast/engine';
import { AnthropicProvider } from './anthropic.js';
import { MockProvider } from './mock.js';
import { OpenAICompatibleProvider } from './openai-compatible.js';
import { type PoolMember, UpstreamPool } from './pool.js';
import type { Provider } from './provider.js';

/**
 * Which model names this deployment serves, and by which provider. The edge uses the same
 * catalog (from the same environment) to refuse unknown models before anything is queued.
 *
 *   MOCK_MODELS       names served by the built-in mock (default "mock"; empty string: none)
 *   UPSTREAM_URL      base URL of an OpenAI-compatible server; unset: no upstream
 *   UPSTREAM_MODELS   names sent to that upstream; empty: every name not served otherwise
 *   MODELS_FILE       JSON routing table, see below; its names win over the two above
 *
 * MODELS_FILE: {"models": {"<name>": {"mock": true} | {"upstreams": [{"type": "openai"|"anthropic",
 * "url": "…", "api_key_env": "VAR" (or "api_key": "…"), "weight": 1, "max_concurrency": 0,
 * "model": "<name upstream>"}]}, plus optionally "queue": "<queue name>"}}
 * A model with a queue is served only by producers that take that queue (PRODUCER_QUEUES).
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

type Env = Record<string, string | undefined>;

interface Timeouts {
  connectTimeoutMs: number;
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
}

interface UpstreamSpec {
  type?: string;
  url?: string;
  api_key?: string;
  api_key_env?: string;
  weight?: number;
  max_concurrency?: number;
  model?: string;
}

function upstreamProvider(spec: UpstreamSpec, env: Env, t: Timeouts, where: string): Provider {
  if (typeof spec.url !== 'string' || !/^https?:\/\//.test(spec.url)) throw new ConfigError(`${where}: url must be an http(s) URL`);
  const apiKey = spec.api_key_env ? (env[spec.api_key_env] ?? '') : (spec.api_key ?? '');
  if (spec.type === 'anthropic') return new AnthropicProvider({ baseUrl: spec.url, apiKey, ...t, defaultMaxTokens: 4096 });
  if (spec.type === undefined || spec.type === 'openai') return new OpenAICompatibleProvider({ baseUrl: spec.url, apiKey, ...t });
  throw new ConfigError(`${where}: type must be "openai" or "anthropic"`);
}

function modelsFromFile(path: string, env: Env, t: Timeouts, mock: Provider, queues: Map<string, string>): Map<string, Provider> {
  let parsed: { models?: Record<string, { mock?: boolean; upstreams?: UpstreamSpec[]; queue?: string }> };
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`MODELS_FILE ${path}: ${(err as Error).message}`);
  }
  const out = new Map<string, Provider>();
  for (const [name, def] of Object.entries(parsed.models ?? {})) {
    if (def.queue !== undefined) {
      if (typeof def.queue !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(def.queue)) throw new ConfigError(`MODELS_FILE: ${name}.queue must be 1-64 of [A-Za-z0-9_.-]`);
      queues.set(name, def.queue);
    }
    if (def.mock) {
      out.set(name, mock);
      continue;
    }
    const specs = def.upstreams ?? [];
    if (specs.length === 0) throw new ConfigError(`MODELS_FILE: model ${name} has no upstreams`);
    const members: PoolMember[] = specs.map((s, i) => ({
      provider: upstreamProvider(s, env, t, `MODELS_FILE: ${name}.upstreams[${i}]`),
      weight: s.weight ?? 1,
      maxConcurrency: s.max_concurrency ?? 0,
      upstreamModel: s.model ?? null,
    }));
    out.set(name, new UpstreamPool(members));
  }
  return out;
}

export function catalogFromEnv(env: Env): ModelCatalog {
  const mockNames = env.MOCK_MODELS === undefined ? ['mock'] : envList(env, 'MOCK_MODELS');
  const mock = new MockProvider({
    tokensPerSecond: envNumber(env, 'MOCK_TOKENS_PER_SECOND', 50, 0.001),
    ttftMs: envInt(env, 'MOCK_TTFT_MS', 150),
  });
  const timeouts: Timeouts = {
    connectTimeoutMs: envInt(env, 'UPSTREAM_CONNECT_TIMEOUT_MS', 5_000, 1),
    firstTokenTimeoutMs: envInt(env, 'UPSTREAM_FIRST_TOKEN_TIMEOUT_MS', 60_000, 1),
    idleTimeoutMs: envInt(env, 'UPSTREAM_IDLE_TIMEOUT_MS', 30_000, 1),
  };
  const upstreamUrl = envString(env, 'UPSTREAM_URL', '');
  const upstreamNames = envList(env, 'UPSTREAM_MODELS');
  const upstream = upstreamUrl ? new OpenAICompatibleProvider({ baseUrl: upstreamUrl, apiKey: envString(env, 'UPSTREAM_API_KEY', ''), ...timeouts }) : null;
  const modelQueues = new Map<string, string>();
  const routed = env.MODELS_FILE ? modelsFromFile(env.MODELS_FILE, env, timeouts, mock, modelQueues) : new Map<string, Provider>();
  const mockSet = new Set(mockNames);
  const upstreamSet = new Set(upstreamNames);
  return {
    providerFor(model) {
      const r = routed.get(model);
      if (r) return r;
      if (mockSet.has(model)) return mock;
      if (upstream && (upstreamSet.size === 0 || upstreamSet.has(model))) return upstream;
      return null;
    },
    queueFor(model) {
      return modelQueues.get(model) ?? 'default';
    },
    queues() {
      return [...new Set(['default', ...modelQueues.values()])];
    },
    names() {
      return [...new Set([...routed.keys(), ...mockNames, ...(upstream ? (upstreamNames.length ? upstreamNames : ['*']) : [])])];
    },
    async close() {
      const all = new Set<Provider>([...routed.values(), ...(upstream ? [upstream] : [])]);
      for (const p of all) await (p as Provider & { close?: () => Promise<void> }).close?.();
    },
  };
}
