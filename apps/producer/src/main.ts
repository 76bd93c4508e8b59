import { createServer } from 'node:http';
import { metricsRegistry, onShutdown, registerQueueGauges, startProcess } from '@tokencast/runtime';
import { producerConfig } from './config.js';
import { createCatalog } from './providers/catalog.js';
import { Worker } from './worker.js';

/** `npm run producer`: one producer process against REDIS_URL. */
startProcess({ name: 'producer', read: producerConfig, engineName: (c) => `tokencast:producer:${c.producer.worker.name}`, standalone: true }, async ({ config, log, engine }) => {
  const { worker: opts, providers, metricsPort } = config.producer;
  const catalog = createCatalog(config.routing, providers);
  // One worker per queue this producer takes from (PRODUCER_QUEUES, default: "default").
  const workers = opts.queues.map((queue) => new Worker(engine, catalog, log, { ...opts, queue }));
  for (const w of workers) w.start();
  registerQueueGauges(engine);
  if (metricsPort > 0) {
    // A producer has no API; this tiny server exists for Prometheus and liveness probes.
    createServer((req, res) => {
      if (req.url === '/metrics') {
        metricsRegistry.metrics().then((body) => res.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(body));
      } else if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      else res.writeHead(404).end();
    }).listen(metricsPort, config.process.host);
  }
  // SHUTDOWN_GRACE_MS bounds the time from the signal to the exit: running generations get most
  // of it to finish; the rest are handed back unacknowledged, and another producer continues them.
  const graceMs = config.process.shutdownGraceMs;
  onShutdown(log, graceMs, async (signal) => {
    log.info({ signal, active: workers.reduce((n, w) => n + w.activeCount, 0), graceMs }, 'draining');
    await Promise.all(workers.map((w) => w.stop(Math.max(0, graceMs - 1_000))));
    await catalog.close();
    await engine.close();
  });
});
