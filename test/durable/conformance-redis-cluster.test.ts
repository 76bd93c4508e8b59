import { startEdge } from '../support/processes.js';
import { startRedisCluster } from '../support/redis-cluster.js';
import { CONFORMANCE_ENV, conformanceAgainst } from './conformance.js';

// One edge on a 3-master Redis Cluster: every stream's keys share a hash tag, forks and their
// sources sit on different slots, and bells travel the cluster bus.
conformanceAgainst(async () => {
  const cluster = await startRedisCluster(3);
  const edge = await startEdge({ ...CONFORMANCE_ENV, ...cluster.env });
  return {
    url: edge.url,
    stop: async () => {
      await edge.kill('SIGTERM');
      await cluster.stop();
    },
  };
});
