import { edgeConfigFromEnv, keysFromEnv, serveEdge } from '@tokencast/edge';
import { ConfigError, createEngine, engineConfig, envInt } from '@tokencast/engine';
import { createCatalog, providerOptionsFromEnv, Worker, workerOptionsFromEnv } from '@tokencast/producer';
import { createLogger, errInfo, routingFromEnv } from '@tokencast/runtime';

/**
 * `npm start`: an edge and a producer in one process, wired here and nowhere else (the edge and
 * the producer do not import each other). On the in-process memory engine when REDIS_URL is
 * unset; on Redis when it is set, where it can share the work with standalone edges and producers.
 */
const log = createLogger('tokencast');

async function main(): Promise<void> {
  const env = process.env;
  const engine = createEngine(engineConfig(env), 'tokencast:embedded');
  for (const warning of await engine.preflight()) log.warn(warning);
  // One routing table for both halves: MODELS_FILE is read once.
  const routing = routingFromEnv(env);
  const catalog = createCatalog(routing, providerOptionsFromEnv(env));
  // Serve every queue a model is routed to: there is no other producer to take them.
  const opts = workerOptionsFromEnv(env);
  const workers = routing.queues().map((queue) => new Worker(engine, catalog, log, { ...opts, queue }));
  for (const w of workers) w.start();
  await serveEdge({
    engine,
    routing,
    config: edgeConfigFromEnv(env),
    logger: log,
    envKeys: keysFromEnv(env),
    drainDelayMs: envInt(env, 'DRAIN_DELAY_MS', 0, 0),
    stopAlso: async (waitMs) => {
      await Promise.all(workers.map((w) => w.stop(waitMs)));
    },
    closeAlso: () => catalog.close(),
  });
}

main().catch((err) => {
  log.fatal({ err: errInfo(err) }, err instanceof ConfigError ? err.message : 'tokencast failed to start');
  process.exit(1);
});
