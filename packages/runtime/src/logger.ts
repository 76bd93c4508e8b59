import { type Logger, pino } from 'pino';

/**
 * The one logger factory: JSON lines at `level` (LOG_LEVEL), and secrets redacted wherever they
 * could appear (headers, query tokens, keys) so that no key ever reaches a log.
 */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie', 'headers.authorization', 'apiKey', 'token', '*.apiKey', '*.token'],
      censor: '[redacted]',
    },
  });
}
