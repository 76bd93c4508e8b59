import { ConfigError, createEngine, type Engine, type EngineConfig } from '@tokencast/engine';
import type { Logger } from 'pino';
import { loadConfig } from './config/load.js';
import type { Env } from './config/options.js';
import type { ProcessConfig } from './config/shared.js';
import { errInfo } from './err-info.js';
import { createLogger } from './logger.js';

export interface StartOptions<C> {
  /** The process's name in its log lines: `edge`, `producer`, `tokencast`. */
  name: string;
  /** Reads the process's config from the environment (once). */
  read: (env: Env) => C;
  /** The engine's connection name (CLIENT LIST). */
  engineName: (config: C) => string;
  /** REDIS_URL is required: only `npm start` may run on the in-process memory engine. */
  standalone: boolean;
}

/**
 * How every process starts (edge, producer, embedded): its config read once, its logger, its
 * engine with the preflight warnings logged, then `run`. A failure to start is one fatal line (a
 * ConfigError's own message) and exit code 1.
 */
export function startProcess<C extends { process: ProcessConfig; engine: EngineConfig }>(
  o: StartOptions<C>,
  run: (p: { config: C; log: Logger; engine: Engine }) => Promise<void>,
): void {
  const config = loadConfig(o.name, (env) => {
    const c = o.read(env);
    if (o.standalone && !c.engine.redisUrl) {
      throw new ConfigError(`REDIS_URL is not set: a standalone ${o.name} needs Redis (npm start runs everything in one process without it)`);
    }
    return c;
  });
  const log = createLogger(o.name, config.process.logLevel);
  const main = async () => {
    const engine = createEngine(config.engine, o.engineName(config));
    for (const warning of await engine.preflight()) log.warn(warning);
    await run({ config, log, engine });
  };
  main().catch((err) => {
    log.fatal({ err: errInfo(err) }, err instanceof ConfigError ? err.message : `${o.name} failed to start`);
    process.exit(1);
  });
}
