import { ConfigError, createEngine, engineConfig, envInt } from '@tokencast/engine';
import { createLogger, errInfo, routingFromEnv } from '@tokencast/runtime';
import { keysFromEnv } from './access/api-keys.js';
import { edgeConfigFromEnv } from './config.js';
import { serveEdge } from './serve.js';

/**
 * `npm run edge`: one edge process against REDIS_URL. It queues generations and streams them;
 * producers (apps/producer) run them. `npm start` runs both in one process: apps/embedded.
 */
const log = createLogger('edge');

async function main(): Promise<void> {
  const env = process.env;
  const ec = engineConfig(env);
  if (!ec.redisUrl) throw new ConfigError('REDIS_URL is not set: a standalone edge needs Redis (npm start runs everything in one process without it)');
  const config = edgeConfigFromEnv(env);
  const engine = createEngine(ec, 'tokencast:edge');
  for (const warning of await engine.preflight()) log.warn(warning);
  await serveEdge({ engine, routing: routingFromEnv(env), config, logger: log, envKeys: keysFromEnv(env), drainDelayMs: envInt(env, 'DRAIN_DELAY_MS', 0, 0) });
}

main().catch((err) => {
  log.fatal({ err: errInfo(err) }, err instanceof ConfigError ? err.message : 'edge failed to start');
  process.exit(1);
});
