// Redis Cluster append latency, checkouts side by side on a fresh local 3-master cluster (200 generations, one token
// every 50 ms each, 5 s). Usage (from bench/, built): node micro/cwpath.mjs OLD_CHECKOUT NEW_CHECKOUT
const { startCluster } = await import('../dist/redis-cluster.js');
const { claimedGenerations, paceAppends } = await import('./paced.mjs');
const c = await startCluster(3, 10000);
const G = 200,
  iv = 50,
  dur = 5000;
for (const root of process.argv.slice(2).flatMap((r) => [r, r])) {
  const { createRedisEngine } = await import(`${root}/packages/engine/dist/index.js?${Math.random()}`);
  const protocol = await import(`${root}/packages/protocol/dist/index.js`);
  const e = createRedisEngine({ url: c.url, cluster: true, prefix: 'w' + Math.random().toString(36).slice(2, 6), name: 'w' });
  const gens = await claimedGenerations(e, protocol, G);
  const { appends, skipped, p50, p99 } = await paceAppends(e.store, gens, iv, dur);
  console.log(root.split('/').pop(), 'appends', appends, 'skipped', skipped, 'p50', p50.toFixed(2), 'p99', p99.toFixed(2));
  await e.close();
}
await c.stop();
process.exit(0);
