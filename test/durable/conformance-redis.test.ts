import { startEdge } from '../support/processes.js';
import { startRedisServer } from '../support/redis.js';
import { CONFORMANCE_ENV, conformanceAgainst } from './conformance.js';

// One standalone edge on a real redis-server of its own.
conformanceAgainst(async () => {
  const redis = await startRedisServer({ args: ['--maxmemory-policy', 'noeviction'] });
  const edge = await startEdge({ ...CONFORMANCE_ENV, REDIS_URL: redis.url });
  return {
    url: edge.url,
    stop: async () => {
      await edge.kill('SIGTERM');
      await redis.stop();
    },
  };
});
