import { serveEdge } from '@tokencast/edge';
import { ConfigError, createEngine } from '@tokencast/engine';
import { createCatalog, Worker } from '@tokencast/producer';
import { createLogger, errInfo, loadConfig } from '@tokencast/runtime';
import { embeddedConfig } from './config.js';

/**
 * `npm start`: an edge and a producer in one process, wired here and nowhere else (the edge and
 * the producer do not import each other). On the in-process memory engine when REDIS_URL is
 * unset; on Redis when it is set, where it can share the work with standalone edges and producers.
 */
const config = loadConfig('tokencast', embeddedConfig);
const log = createLogger('tokencast', config.process.logLevel);

async function main(): Promise<void> {
  const engine = createEngine(config.engine, 'tokencast:embedded');
  for (const warning of await engine.preflight()) log.warn(warning);
  // One routing table for both halves: MODELS_FILE was read once.
  const { routing } = config;
  const catalog = createCatalog(routing, config.producer.providers);
  // Serve every queue a model is routed to: there is no other producer to take them.
  const workers = routing.queues().map((queue) => new Worker(engine, catalog, log, { ...config.producer.worker, queue }));
  for (const w of workers) w.start();
  await serveEdge({
    engine,
    routing,
    config: config.edge,
    logger: log,
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
