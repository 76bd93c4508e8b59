import { ConfigError, createEngine, engineConfig } from '@tokencast/engine';
import { workerOptionsFromEnv } from './config.js';
import { createLogger } from './logger.js';
import { catalogFromEnv } from './providers/catalog.js';
import { errInfo, Worker } from './worker.js';

/** `npm run producer`: one producer process against REDIS_URL. */
const log = createLogger('producer');

async function main(): Promise<void> {
  const env = process.env;
  const ec = engineConfig(env);
  if (!ec.redisUrl) throw new ConfigError('REDIS_URL is not set: a standalone producer needs Redis (npm start runs everything in one process without it)');
  const opts = workerOptionsFromEnv(env);
  const engine = createEngine(ec, `tokencast:producer:${opts.name}`);
  const catalog = catalogFromEnv(env);
  const worker = new Worker(engine, catalog, log, opts);
  worker.start();
  const graceMs = Number(env.SHUTDOWN_GRACE_MS ?? 10_000);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, active: worker.activeCount }, 'draining');
    await worker.stop(graceMs);
    await catalog.close();
    await engine.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  log.fatal({ err: errInfo(err) }, err instanceof ConfigError ? err.message : 'producer failed to start');
  process.exit(1);
});
