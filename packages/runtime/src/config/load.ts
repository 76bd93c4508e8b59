import { ConfigError } from '@tokencast/engine';
import { createLogger } from '../logger.js';
import type { Env } from './options.js';

/**
 * The one place a process reads its environment: once, at start-up, into the typed config its
 * `read` builds. A bad value stops the process here with one log line naming the variable.
 */
export function loadConfig<T>(processName: string, read: (env: Env) => T): T {
  try {
    return read(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    createLogger(processName).fatal(err.message);
    process.exit(1);
  }
}
