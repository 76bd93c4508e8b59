import type { AddressInfo } from 'node:net';
import { buildEdge, type Edge, edgeConfigFromEnv } from '@tokencast/edge';
import { createMemoryEngine, type Engine } from '@tokencast/engine';
import { createCatalog, type ModelCatalog, providerOptionsFromEnv, Worker, workerOptionsFromEnv } from '@tokencast/producer';
import { createLogger, routingConfig } from '@tokencast/runtime';

/**
 * An edge and a producer in the test's own process, on the memory engine, listening on a free
 * port: for tests that need real HTTP and to look inside the edge (edge.hub), but no Redis.
 */
export interface InProcess {
  engine: Engine;
  catalog: ModelCatalog;
  worker: Worker;
  edge: Edge;
  url: string;
  stop(): Promise<void>;
}

export async function startInProcess(env: Record<string, string>): Promise<InProcess> {
  const engine = createMemoryEngine();
  const routing = routingConfig(env);
  const catalog = createCatalog(routing, providerOptionsFromEnv(env));
  const logger = createLogger('test', env.LOG_LEVEL ?? 'silent');
  const worker = new Worker(engine, catalog, logger, workerOptionsFromEnv(env));
  worker.start();
  const edge = await buildEdge({ engine, routing, config: edgeConfigFromEnv({ ...env, PORT: '0', HOST: '127.0.0.1' }), logger });
  await edge.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(edge.app.server.address() as AddressInfo).port}`;
  return {
    engine,
    catalog,
    worker,
    edge,
    url,
    async stop() {
      await edge.app.close();
      await worker.stop(0);
      await catalog.close();
      await engine.close();
    },
  };
}
