import { createServer } from 'node:http';
import { ConfigError, createEngine, engineConfig, envInt } from '@tokencast/engine';
import { createLogger, errInfo, metricsRegistry, onShutdown, registerQueueGauges } from '@tokencast/runtime';
import { workerOptionsFromEnv } from './config.js';
import { catalogFromEnv } from './providers/catalog.js';
import { Worker } from './worker.js';

/** `npm run producer`: one producer process against REDIS_URL. */
const log = createLogger('producer');

async function main(): Promise<void> {
  const env = process.env;
  const ec = engineConfig(env);
  if (!ec.redisUrl) throw new ConfigError('REDIS_URL is not set: a standalone producer needs Redis (npm start runs everything in one process without it)');
  const opts = workerOptionsFromEnv(env);
  const engine = createEngine(ec, `tokencast:producer:${opts.name}`);
  for (const warning of await engine.preflight()) log.warn(warning);
  const catalog = catalogFromEnv(env);
  // One worker per queue this producer takes from (PRODUCER_QUEUES, default: "default").
  const workers = opts.queues.map((queue) => new Worker(engine, catalog, log, { ...opts, queue }));
  for (const w of workers) w.start();
  registerQueueGauges(engine);
  const metricsPort = envInt(env, 'METRICS_PORT', 0, 0, 65_535);
  if (metricsPort > 0) {
    // A producer has no API; this tiny server exists for Prometheus and liveness probes.
    createServer((req, res) => {
      if (req.url === '/metrics') {
        metricsRegistry.metrics().then((body) => res.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(body));
      } else if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      else res.writeHead(404).end();
    }).listen(metricsPort, env.HOST ?? '0.0.0.0');
  }
  // SHUTDOWN_GRACE_MS bounds the time from the signal to the exit: running generations get most
  // of it to finish; the rest are handed back unacknowledged, and another producer continues them.
  const graceMs = envInt(env, 'SHUTDOWN_GRACE_MS', 10_000, 0);
  onShutdown(log, graceMs, async (signal) => {
    log.info({ signal, active: workers.reduce((n, w) => n + w.activeCount, 0), graceMs }, 'draining');
    await Promise.all(workers.map((w) => w.stop(Math.max(0, graceMs - 1_000))));
    await catalog.close();
    await engine.close();
  });
}

main().catch((err) => {
  log.fatal({ err: errInfo(err) }, err instanceof ConfigError ? err.message : 'producer failed to start');
  process.exit(1);
});
