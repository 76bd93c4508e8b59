import { startProcess } from '@tokencast/runtime';
import { edgeProcessConfig } from './config.js';
import { serveEdge } from './serve.js';

/**
 * `npm run edge`: one edge process against REDIS_URL. It queues generations and streams them;
 * producers (apps/producer) run them. `npm start` runs both in one process: apps/embedded.
 */
startProcess({ name: 'edge', read: edgeProcessConfig, engineName: () => 'tokencast:edge', standalone: true }, async ({ config, log, engine }) => {
  await serveEdge({ engine, routing: config.routing, config: config.edge, logger: log });
});
