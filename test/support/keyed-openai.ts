import OpenAI from 'openai';
import { type Proc, startEmbedded } from './processes.js';
import { type RedisServer, startRedisServer } from './redis.js';

/** An embedded edge on its own redis-server with two API keys, and an openai SDK client for each. */
export interface KeyedEdge {
  redis: RedisServer;
  edge: Proc;
  alice: OpenAI;
  bob: OpenAI;
  aliceKey: string;
  stop(): Promise<void>;
}

/** `prefix`: the Redis key prefix (and the keys' names), so suites never share keys. */
export async function startKeyedEdge(prefix: string): Promise<KeyedEdge> {
  const aliceKey = `sk-alice-${prefix}-0123456789`;
  const bobKey = `sk-bob-${prefix}-0123456789`;
  const redis = await startRedisServer();
  const edge = await startEmbedded({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: prefix, MOCK_TOKENS_PER_SECOND: '2000', API_KEYS: `alice:${aliceKey},bob:${bobKey}` });
  const client = (apiKey: string) => new OpenAI({ baseURL: `${edge.url}/v1`, apiKey, maxRetries: 0, timeout: 20_000 });
  return {
    redis,
    edge,
    alice: client(aliceKey),
    bob: client(bobKey),
    aliceKey,
    async stop() {
      await edge.kill('SIGTERM');
      await redis.stop();
    },
  };
}
