import { ConfigError, createEngine, engineConfig, envInt } from '@tokencast/engine';
import { catalogFromEnv, createLogger, errInfo, onShutdown, Worker, workerOptionsFromEnv } from '@tokencast/producer';
import { keysFromEnv } from './access/api-keys.js';
import { buildEdge } from './app.js';
import { edgeConfigFromEnv } from './config.js';

/**
 * `npm run edge`: one edge process against REDIS_URL.
 * `npm start` (--embedded): edge + producer + the mock model in one process, on the memory
 * engine when REDIS_URL is unset, on Redis when it is set.
 */
const embedded = process.argv.includes('--embedded');
const log = createLogger(embedded ? 'tokencast' : 'edge');

async function main(): Promise<void> {
  const env = process.env;
  const ec = engineConfig(env);
  if (!embedded && !ec.redisUrl) throw new ConfigError('REDIS_URL is not set: a standalone edge needs Redis (npm start runs everything in one process without it)');
  const config = edgeConfigFromEnv(env);
  const drainDelayMs = envInt(env, 'DRAIN_DELAY_MS', 0, 0);
  const engine = createEngine(ec, embedded ? 'tokencast:embedded' : 'tokencast:edge');
  for (const warning of await engine.preflight()) log.warn(warning);
  const catalog = catalogFromEnv(env);
  const edge = await buildEdge({ engine, catalog, config, logger: log, envKeys: keysFromEnv(env) });
  let workers: Worker[] = [];
  if (embedded) {
    // Embedded: serve every queue a model is routed to.
    const opts = workerOptionsFromEnv(env);
    workers = catalog.queues().map((queue) => new Worker(engine, catalog, log, { ...opts, queue }));
    for (const w of workers) w.start();
  }
  const address = await edge.app.listen({ host: config.host, port: config.port });
  log.info({ address, engine: engine.kind, embedded }, engine.kind === 'memory' ? 'tokencast is up (in-memory engine: set REDIS_URL to use Redis)' : 'tokencast is up');

  // SHUTDOWN_GRACE_MS bounds everything from the signal to the exit; DRAIN_DELAY_MS (part of
  // it) is how long /readyz says 503 before the listener closes, for balancers that poll it.
  const grace = config.shutdownGraceMs;
  onShutdown(log, grace, async (signal) => {
    const delayMs = Math.min(drainDelayMs, grace);
    log.info({ signal, delayMs, graceMs: grace }, 'draining');
    // The last second of the grace is kept for closing Redis connections and the upstream.
    const waitMs = Math.max(0, grace - delayMs - 1_000);
    await Promise.all([edge.drain({ delayMs, waitMs }), ...workers.map((w) => w.stop(Math.max(0, grace - 1_000)))]);
    await catalog.close();
    await engine.close();
  });
}

main().catch((err) => {
  log.fatal({ err: errInfo(err) }, err instanceof ConfigError ? err.message : 'edge failed to start');
  process.exit(1);
});
