import type { RoutePlugin } from '../plugins/schemas.js';

/**
 * GET /debug/stats, only when EDGE_DEBUG_STATS=1: what the edge holds right now, for leak tests
 * and operators chasing one. With --expose-gc it collects first, so heapUsed is live memory.
 */
const debugRoutes: RoutePlugin = async (app) => {
  // ?gc=1 collects first (with --expose-gc): a full collection, so not on every poll.
  const querystring = { type: 'object', properties: { gc: { type: 'string' } } } as const;
  app.get('/debug/stats', { schema: { querystring } }, async (req) => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (req.query.gc === '1') gc?.();
    const proc = process as unknown as { _getActiveHandles?: () => unknown[]; _getActiveRequests?: () => unknown[] };
    return {
      sinks: app.hub.sinkCount,
      channels: app.hub.channelCount,
      followed: app.hub.followed,
      handles: proc._getActiveHandles?.().length ?? null,
      requests: proc._getActiveRequests?.().length ?? null,
      connections: await new Promise<number>((resolve) => app.server.getConnections((_e, n) => resolve(n))),
      heapUsed: process.memoryUsage().heapUsed,
      rss: process.memoryUsage().rss,
      gc: gc !== undefined,
    };
  });
};

export default debugRoutes;
