import type { Engine } from '@tokencast/engine';
import { Counter, Gauge, register } from 'prom-client';

/**
 * The one metrics registry of a process: prom-client's default, so that an edge and a producer in
 * one process (embedded mode) are scraped together at the edge's /metrics. Each app defines its
 * own metrics in it; what both need (queue depth, Redis health) is here.
 */
export { register as metricsRegistry };

/** A gauge read when scraped (no work on the hot path); `read` answering null leaves the value as it was. */
export function scrapedGauge(name: string, help: string, read: () => number | null | Promise<number | null>): Gauge {
  return new Gauge({
    name,
    help,
    async collect() {
      const v = await read();
      if (v !== null) this.set(v);
    },
  });
}

/** A counter that shows, when scraped, a monotonic count kept elsewhere. */
export function scrapedCounter(name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

let queueGauges = false;
/** Queue depth and pending jobs, and Redis connection health, read from the engine when scraped. */
export function registerQueueGauges(engine: Engine): void {
  if (queueGauges) return;
  queueGauges = true;
  scrapedCounter('tokencast_redis_reconnects_total', 'Reconnect attempts of this process’s Redis connections', () => engine.health.reconnects);
  scrapedCounter('tokencast_redis_connection_errors_total', 'Connection errors of this process’s Redis connections', () => engine.health.errors);
  const stats = async () => engine.queue.stats().catch(() => null);
  scrapedGauge('tokencast_queue_waiting', 'Jobs waiting for a producer', async () => (await stats())?.waiting ?? null);
  scrapedGauge('tokencast_queue_pending', 'Jobs handed to a producer and not yet finished', async () => (await stats())?.pending ?? null);
}
