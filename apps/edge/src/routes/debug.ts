import type { FastifyInstance } from 'fastify';
import type { Hub } from '../fanout/hub.js';

/**
 * GET /debug/stats, only when EDGE_DEBUG_STATS=1: what the edge holds right now, for leak tests
 * and operators chasing one. With --expose-gc it collects first, so heapUsed is live memory.
 */
export async function debugRoutes(app: FastifyInstance, deps: { hub: Hub }): Promise<void> {
  app.get('/debug/stats', async (req) => {
    const gc = (globalThis as { gc?: () => void }).gc;
    // ?gc=1 collects first (with --expose-gc): a full collection, so not on every poll.
    if ((req.query as Record<string, unknown>).gc === '1') gc?.();
    const proc = process as unknown as { _getActiveHandles?: () => unknown[]; _getActiveRequests?: () => unknown[] };
    return {
      sinks: deps.hub.sinkCount,
      channels: deps.hub.channelCount,
      followed: deps.hub.followed,
      handles: proc._getActiveHandles?.().length ?? null,
      requests: proc._getActiveRequests?.().length ?? null,
      connections: await new Promise<number>((resolve) => app.server.getConnections((_e, n) => resolve(n))),
      heapUsed: process.memoryUsage().heapUsed,
      rss: process.memoryUsage().rss,
      gc: gc !== undefined,
    };
  });
}
