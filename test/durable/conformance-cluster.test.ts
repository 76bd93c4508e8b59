import { startCluster } from '../support/cluster.js';
import { CONFORMANCE_ENV, conformanceAgainst } from './conformance.js';

// nginx (deploy/nginx/nginx.conf, least_conn) in front of 3 edges sharing one Redis: consecutive
// requests of one test land on different edges, so every read-your-writes, long-poll and SSE
// check is also a check that edges agree.
conformanceAgainst(async () => {
  const cluster = await startCluster({ edges: 3, producers: 0, persistent: false, edgeEnv: CONFORMANCE_ENV });
  return {
    url: cluster.url,
    verify() {
      // The suite really went through all three edges (not one that happened to take it all).
      const served = new Map<string, number>();
      for (const e of cluster.nginx.accessLog()) if (e.uri.startsWith('/v1/stream/')) served.set(e.upstream, (served.get(e.upstream) ?? 0) + 1);
      const total = [...served.values()].reduce((a, b) => a + b, 0);
      const shares = cluster.edgeAddrs.map((a) => (served.get(a) ?? 0) / Math.max(1, total));
      if (total < 1000 || shares.some((s) => s < 0.1)) throw new Error(`requests per edge: ${JSON.stringify(Object.fromEntries(served))}`);
    },
    stop: () => cluster.stop(),
  };
});
