import { onShutdown } from '@tokencast/runtime';
import type { Logger } from 'pino';
import { buildEdge, type Edge, type EdgeDeps } from './app.js';

export interface ServeOptions extends EdgeDeps {
  logger: Logger;
  /** What else this process runs and stops with the edge (embedded mode: the producer's
   * workers), given the time left for it, ms. */
  stopAlso?: (waitMs: number) => Promise<void>;
  /** Closed last, after the edge and `stopAlso` (embedded mode: the upstream connections). */
  closeAlso?: () => Promise<void>;
}

/**
 * Build the edge, listen on HOST:PORT, and drain on SIGTERM/SIGINT: the part of start-up shared
 * by a standalone edge and the embedded process.
 */
export async function serveEdge(o: ServeOptions): Promise<Edge> {
  const { engine, config, logger: log } = o;
  const edge = await buildEdge(o);
  const address = await edge.app.listen({ host: config.host, port: config.port });
  log.info({ address, engine: engine.kind }, engine.kind === 'memory' ? 'tokencast is up (in-memory engine: set REDIS_URL to use Redis)' : 'tokencast is up');

  // SHUTDOWN_GRACE_MS bounds everything from the signal to the exit; DRAIN_DELAY_MS (part of
  // it) is how long /readyz says 503 before the listener closes, for balancers that poll it.
  const grace = config.shutdownGraceMs;
  onShutdown(log, grace, async (signal) => {
    const delayMs = Math.min(config.drainDelayMs, grace);
    log.info({ signal, delayMs, graceMs: grace }, 'draining');
    // The last second of the grace is kept for closing Redis connections and the upstream.
    const waitMs = Math.max(0, grace - delayMs - 1_000);
    await Promise.all([edge.drain({ delayMs, waitMs }), o.stopAlso?.(Math.max(0, grace - 1_000))]);
    await o.closeAlso?.();
    await engine.close();
  });
  return edge;
}
