import type { Logger } from 'pino';

/**
 * SIGTERM/SIGINT handling shared by every process: run `drain` once, then exit 0; whatever
 * happens, exit when `graceMs` is over, so an orchestrator's grace period is never exceeded.
 */
export function onShutdown(log: Logger, graceMs: number, drain: (signal: string) => Promise<void>): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => {
      log.warn('grace period over; exiting');
      process.exit(0);
    }, graceMs);
    force.unref();
    await drain(signal);
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
