import { Redis, type RedisOptions } from 'ioredis';

export interface ConnectionOptions {
  url: string;
  /** Name shown by CLIENT LIST, so an operator can tell tokencast's connections apart. */
  name: string;
  /** ms before a (non-blocking) command fails; 0 disables. Never applied to blocking connections. */
  commandTimeoutMs?: number;
}

/** Reconnect quickly at first, then every 2 s: an outage must not turn into a long blind spot. */
function retryStrategy(times: number): number {
  return Math.min(50 * 2 ** times, 2000);
}

/**
 * Connection for ordinary commands: fails fast when Redis is gone (a couple of retries, then the
 * request gets a 503), queues commands across a brief reconnect.
 */
export function commandConnection(opts: ConnectionOptions): Redis {
  const o: RedisOptions = {
    connectionName: opts.name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy,
    lazyConnect: false,
  };
  if (opts.commandTimeoutMs) o.commandTimeout = opts.commandTimeoutMs;
  return new Redis(opts.url, o);
}

/**
 * Connection for XREAD BLOCK / XREADGROUP BLOCK. No command timeout (it would fire on every quiet
 * BLOCK), retried forever, and never auto-resent after a reconnect: a re-sent blocking read has
 * been seen to hang (ioredis #1285), so the read loop re-issues it itself from its last id.
 */
export function blockingConnection(opts: ConnectionOptions): Redis {
  return new Redis(opts.url, {
    connectionName: opts.name,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResendUnfulfilledCommands: false,
    retryStrategy,
  });
}
