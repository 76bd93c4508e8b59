import type { Engine } from '@tokencast/engine';
import { ServiceUnavailableError } from '@tokencast/protocol';
import type { ModelRouting } from '@tokencast/runtime';
import type { FastifyInstance } from 'fastify';

export interface HealthDeps {
  engine: Engine;
  routing: ModelRouting;
  /** True while the edge drains before exit: readiness fails so balancers stop sending traffic. */
  isDraining: () => boolean;
}

/** How long /readyz waits for the store to answer, ms. */
const READY_TIMEOUT_MS = 1_000;

export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async () => {
    if (deps.isDraining()) throw new ServiceUnavailableError('the edge is draining', 'draining', 1);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        deps.engine.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS);
        }),
      ]);
    } catch {
      throw new ServiceUnavailableError('the stream store is unreachable', 'store_unavailable', 1);
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ready', engine: deps.engine.kind };
  });

  app.get('/v1/models', async () => ({
    object: 'list',
    data: deps.routing.names().map((id) => ({ id, object: 'model', created: 0, owned_by: 'tokencast' })),
  }));
}
