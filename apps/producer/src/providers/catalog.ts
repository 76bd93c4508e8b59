import { envInt, envList, envNumber, envString } from '@tokencast/engine';
import { MockProvider } from './mock.js';
import { OpenAICompatibleProvider } from './openai-compatible.js';
import type { Provider } from './provider.js';

/**
 * Which model names this deployment serves, and by which provider. The edge uses the same
 * catalog (from the same environment) to refuse unknown models before anything is queued.
 *
 *   MOCK_MODELS       names served by the built-in mock (default "mock"; empty string: none)
 *   UPSTREAM_URL      base URL of an OpenAI-compatible server; unset: no upstream
 *   UPSTREAM_MODELS   names sent to the upstream; empty: every name the mock does not serve
 */
export interface ModelCatalog {
  /** Provider for a model name; null when the name is not served here. */
  providerFor(model: string): Provider | null;
  /** Names to list at GET /v1/models; "*" stands for "any name" (upstream pass-through). */
  names(): string[];
  close(): Promise<void>;
}

type Env = Record<string, string | undefined>;

export function catalogFromEnv(env: Env): ModelCatalog {
  const mockNames = env.MOCK_MODELS === undefined ? ['mock'] : envList(env, 'MOCK_MODELS');
  const mock = new MockProvider({
    tokensPerSecond: envNumber(env, 'MOCK_TOKENS_PER_SECOND', 50, 0.001),
    ttftMs: envInt(env, 'MOCK_TTFT_MS', 150),
  });
  const upstreamUrl = envString(env, 'UPSTREAM_URL', '');
  const upstreamNames = envList(env, 'UPSTREAM_MODELS');
  const upstream = upstreamUrl
    ? new OpenAICompatibleProvider({
        baseUrl: upstreamUrl,
        apiKey: envString(env, 'UPSTREAM_API_KEY', ''),
        connectTimeoutMs: envInt(env, 'UPSTREAM_CONNECT_TIMEOUT_MS', 5_000, 1),
        firstTokenTimeoutMs: envInt(env, 'UPSTREAM_FIRST_TOKEN_TIMEOUT_MS', 60_000, 1),
        idleTimeoutMs: envInt(env, 'UPSTREAM_IDLE_TIMEOUT_MS', 30_000, 1),
      })
    : null;
  const mockSet = new Set(mockNames);
  const upstreamSet = new Set(upstreamNames);
  return {
    providerFor(model) {
      if (mockSet.has(model)) return mock;
      if (upstream && (upstreamSet.size === 0 || upstreamSet.has(model))) return upstream;
      return null;
    },
    names() {
      return [...mockNames, ...(upstream ? (upstreamNames.length ? upstreamNames : ['*']) : [])];
    },
    async close() {
      await upstream?.close();
    },
  };
}
