import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeUpstream } from './fake-upstreams.js';
import { FAST_ENV, type Proc, startEdge, startProducer } from './processes.js';
import { type RedisServer, startRedisServer } from './redis.js';
import { expected, type StandInScript, standInAnthropic, standInOpenAI } from './stand-in-upstream.js';

/**
 * What the third-party SDK tests (#12) run against: a real edge and producer (separate
 * processes, one Redis) routing `claude-standin` to a stand-in Anthropic upstream and
 * `gpt-standin` to a stand-in OpenAI-compatible one. Both record what they receive and stream
 * TOOLS_SCRIPT: reasoning (with a signature, where the format has one), text, and two tool calls
 * whose arguments come in pieces.
 */
export const TOOLS_SCRIPT: StandInScript = {
  output: [
    { kind: 'reasoning', pieces: ['A day trip', ' needs the weather', ' and a train.'], signature: 'sig-people-7Qx' },
    { kind: 'text', pieces: ['Looking', ' both up.'] },
    { kind: 'tool_call', id: 'toolu_wx1', name: 'get_weather', args: ['{"ci', 'ty": "Sin', 'tra", "da', 'ys": 2}'] },
    { kind: 'tool_call', id: 'toolu_tr2', name: 'find_train', args: ['{"from": "Lis', 'bon", "to": ', '"Sintra"}'] },
  ],
  usage: { input: 140, output: 52, cached: 120, reasoning: 11 },
  // Slower than an append, so most pieces stay separate events (the producer coalesces deltas that
  // arrive while an append is in flight): clients see the arguments stream.
  intervalMs: 25,
};
export const TOOLS_WANT = expected(TOOLS_SCRIPT);
export const WEATHER_SCHEMA = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] };
export const TRAIN_SCHEMA = { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' } }, required: ['from', 'to'] };

/** The API key every caller sends (the edge runs with API keys on). */
export const CALLER_KEY = 'sk-people-caller-0123456789';

/** The calls a client should reassemble: ids, names and parsed arguments. */
export const parsedCalls = () => TOOLS_WANT.calls.map((c) => ({ id: c.id, name: c.name, input: JSON.parse(c.args) as unknown }));

export interface ToolsStack {
  edge: Proc;
  claude: FakeUpstream;
  gpt: FakeUpstream;
  stop(): Promise<void>;
}

export async function startToolsStack(prefix: string): Promise<ToolsStack> {
  const redis: RedisServer = await startRedisServer();
  const claude = await standInAnthropic(TOOLS_SCRIPT);
  const gpt = await standInOpenAI(TOOLS_SCRIPT);
  const file = join(mkdtempSync(join(tmpdir(), 'tokencast-tools-')), 'models.json');
  writeFileSync(
    file,
    JSON.stringify({
      models: {
        'claude-standin': { upstreams: [{ type: 'anthropic', url: claude.url, api_key: 'sk-ant-upstream' }] },
        'gpt-standin': { upstreams: [{ type: 'openai', url: `${gpt.url}/v1`, api_key: 'sk-upstream' }] },
      },
    }),
  );
  // API keys on: the Anthropic SDK authenticates with x-api-key, the OpenAI-shaped ones with a Bearer token.
  const env = { ...FAST_ENV, REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: prefix, MODELS_FILE: file, MOCK_MODELS: '', API_KEYS: `people:${CALLER_KEY}` };
  const [edge, producer] = await Promise.all([startEdge(env), startProducer(env)]);
  return {
    edge,
    claude,
    gpt,
    async stop() {
      await edge.kill('SIGTERM');
      await producer.kill('SIGTERM');
      await claude.close();
      await gpt.close();
      await redis.stop();
    },
  };
}
