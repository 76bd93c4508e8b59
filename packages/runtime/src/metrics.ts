import type { Engine } from '@tokencast/engine';
import { Counter, Gauge, register } from 'prom-client';

/**
 * The one metrics registry of a process: prom-client's default, so that an edge and a producer in
 * one process (embedded mode) are scraped together at the edge's /metrics. Each app defines its
 * own metrics in it; what both need (queue depth, Redis health) is here.
 */
export { register as metricsRegistry };

let queueGauges = false;
/** Queue depth and pending jobs, and Redis connection health, read from the engine when scraped. */
export function registerQueueGauges(engine: Engine): void {
  if (queueGauges) return;
  queueGauges = true;
  new Counter({
    name: 'tokencast_redis_reconnects_total',
    help: 'Reconnect attempts of this process’s Redis connections',
    collect() {
      this.reset();
      this.inc(engine.health.reconnects);
    },
  });
  new Counter({
    name: 'tokencast_redis_connection_errors_total',
    help: 'Connection errors of this process’s Redis connections',
    collect() {
      this.reset();
      this.inc(engine.health.errors);
    },
  });
  const stats = async () => engine.queue.stats().catch(() => null);
  new Gauge({
    name: 'tokencast_queue_waiting',
    help: 'Jobs waiting for a producer',
    async collect() {
      const s = await stats();
      if (s) this.set(s.waiting);
    },
  });
  new Gauge({
    name: 'tokencast_queue_pending',
    help: 'Jobs handed to a producer and not yet finished',
    async collect() {
      const s = await stats();
      if (s) this.set(s.pending);
    },
  });
}
