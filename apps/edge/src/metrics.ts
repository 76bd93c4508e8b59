import type { Engine } from '@tokencast/engine';
import { metricsRegistry, registerQueueGauges } from '@tokencast/runtime';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Hub } from './fanout/hub.js';

/**
 * Edge metrics. Gauges read the hub when scraped (no work on the hot path); the delivery lag is
 * observed once per batch the tail delivers, not once per viewer.
 */
export const edgeMetrics = {
  deliveryLag: new Histogram({
    name: 'tokencast_delivery_lag_ms',
    help: 'Token written to the store → pushed to live viewers on this edge, ms',
    // Fine below 20 ms: what batching adds (issue #13 allows 5 ms at p99) must be visible.
    buckets: [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 50, 75, 100, 250, 500, 1000, 5000],
  }),
  requests: new Counter({ name: 'tokencast_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'] as const }),
  storeErrors: new Counter({ name: 'tokencast_store_errors_total', help: 'Requests that failed because the store was unreachable' }),
};

let registered = false;

export function registerEdgeGauges(hub: Hub, engine: Engine): void {
  if (registered) return;
  registered = true;
  new Gauge({
    name: 'tokencast_edge_viewers',
    help: 'Open viewer streams (SSE responses, WebSocket subscriptions)',
    collect() {
      this.set(hub.sinkCount);
    },
  });
  new Gauge({
    name: 'tokencast_edge_channels',
    help: 'Generations with a channel on this edge',
    collect() {
      this.set(hub.channelCount);
    },
  });
  new Gauge({
    name: 'tokencast_edge_followed_generations',
    help: 'Generations followed live by this edge’s single reader',
    collect() {
      this.set(hub.followed);
    },
  });
  new Gauge({
    name: 'tokencast_edge_events_in',
    help: 'Events received from the store by this edge (monotonic)',
    collect() {
      this.set(hub.eventsIn);
    },
  });
  registerQueueGauges(engine);
}

export async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/metrics', async (_req, reply) => {
    reply.type(metricsRegistry.contentType);
    return metricsRegistry.metrics();
  });
}
