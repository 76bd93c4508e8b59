import { ConfigError, createEngine } from '@tokencast/engine';
import { createLogger, errInfo, loadConfig } from '@tokencast/runtime';
import { edgeProcessConfig } from './config.js';
import { serveEdge } from './serve.js';

/**
 * `npm run edge`: one edge process against REDIS_URL. It queues generations and streams them;
 * producers (apps/producer) run them. `npm start` runs both in one process: apps/embedded.
 */
const config = loadConfig('edge', (env) => {
  const c = edgeProcessConfig(env);
  if (!c.engine.redisUrl) throw new ConfigError('REDIS_URL is not set: a standalone edge needs Redis (npm start runs everything in one process without it)');
  return c;
});
const log = createLogger('edge', config.process.logLevel);

async function main(): Promise<void> {
  const engine = createEngine(config.engine, 'tokencast:edge');
  for (const warning of await engine.preflight()) log.warn(warning);
  await serveEdge({ engine, routing: config.routing, config: config.edge, logger: log });
}

main().catch((err) => {
  log.fatal({ err: errInfo(err) }, err instanceof ConfigError ? err.message : 'edge failed to start');
  process.exit(1);
});
