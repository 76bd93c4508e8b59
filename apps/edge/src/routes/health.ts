import { ServiceUnavailableError } from '@tokencast/protocol';
import type { RoutePlugin } from '../plugins/schemas.js';

/** How long /readyz waits for the store to answer, ms. */
const READY_TIMEOUT_MS = 1_000;

/** Liveness, readiness (false while draining or when the store does not answer) and the model list. */
const healthRoutes: RoutePlugin = async (app) => {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async () => {
    if (app.isDraining()) throw new ServiceUnavailableError('the edge is draining', 'draining', 1);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        app.engine.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS);
        }),
      ]);
    } catch {
      throw new ServiceUnavailableError('the stream store is unreachable', 'store_unavailable', 1);
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ready', engine: app.engine.kind };
  });

  app.get('/v1/models', async () => ({
    object: 'list',
    data: app.modelRouting.names().map((id) => ({ id, object: 'model', created: 0, owned_by: 'tokencast' })),
  }));
};

export default healthRoutes;
