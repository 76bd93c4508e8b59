import type { Engine } from '@tokencast/engine';
import { metricsRegistry, registerQueueGauges, scrapedGauge } from '@tokencast/runtime';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram } from 'prom-client';
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
  scrapedGauge('tokencast_edge_viewers', 'Open viewer streams (SSE responses, WebSocket subscriptions)', () => hub.sinkCount);
  scrapedGauge('tokencast_edge_channels', 'Generations with a channel on this edge', () => hub.channelCount);
  scrapedGauge('tokencast_edge_followed_generations', 'Generations followed live by this edge’s single reader', () => hub.followed);
  scrapedGauge('tokencast_edge_events_in', 'Events received from the store by this edge (monotonic)', () => hub.eventsIn);
  registerQueueGauges(engine);
}

export async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/metrics', async (_req, reply) => {
    reply.type(metricsRegistry.contentType);
    return metricsRegistry.metrics();
  });
}
