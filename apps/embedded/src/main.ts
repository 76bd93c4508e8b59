import { serveEdge } from '@tokencast/edge';
import { createCatalog, Worker } from '@tokencast/producer';
import { startProcess } from '@tokencast/runtime';
import { embeddedConfig } from './config.js';

/**
 * `npm start`: an edge and a producer in one process, wired here and nowhere else (the edge and
 * the producer do not import each other). On the in-process memory engine when REDIS_URL is
 * unset; on Redis when it is set, where it can share the work with standalone edges and producers.
 */
startProcess({ name: 'tokencast', read: embeddedConfig, engineName: () => 'tokencast:embedded', standalone: false }, async ({ config, log, engine }) => {
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
});
