// Redis Cluster append latency, checkouts side by side on a fresh local 3-master cluster (200 generations, one token
// every 50 ms each, 5 s). Usage (from bench/, built): node micro/cwpath.mjs OLD_CHECKOUT NEW_CHECKOUT
const { startCluster } = await import('../dist/redis-cluster.js');
const c = await startCluster(3, 10000);
const G = 200,
  iv = 50,
  dur = 5000;
for (const root of process.argv.slice(2).flatMap((r) => [r, r])) {
  const { createRedisEngine } = await import(`${root}/packages/engine/dist/index.js?${Math.random()}`);
  const { queuedMeta, newGenerationId } = await import(`${root}/packages/protocol/dist/index.js`);
  const e = createRedisEngine({ url: c.url, cluster: true, prefix: 'w' + Math.random().toString(36).slice(2, 6), name: 'w' });
  const req = { kind: 'chat', model: 'mock', messages: [{ role: 'user', content: 'x' }], prompt: '', maxTokens: null, stream: true, includeUsage: false, params: {} };
  const gens = [];
  for (let i = 0; i < G; i++) {
    const m = queuedMeta(newGenerationId(), req);
    await e.queue.enqueue(m);
    const cl = await e.store.claim(m.id, 'p');
    gens.push({ id: m.id, fence: cl.fence, last: 0, busy: false });
  }
  let appends = 0,
    skipped = 0;
  const lat = [];
  await new Promise((resolve) => {
    gens.forEach((g, i) => {
      const tick = async () => {
        if (g.busy) {
          skipped++;
          return;
        }
        g.busy = true;
        const s = performance.now();
        g.last = (await e.store.append(g.id, g.fence, g.last, [{ kind: 'token', text: ' w', tokens: 1, ms: [1] }])).lastOffset;
        lat.push(performance.now() - s);
        appends++;
        g.busy = false;
      };
      setTimeout(
        () => {
          const h = setInterval(tick, iv);
          setTimeout(() => clearInterval(h), dur);
        },
        (i * iv) / G,
      );
    });
    setTimeout(resolve, dur + 500);
  });
  lat.sort((a, b) => a - b);
  console.log(root.split('/').pop(), 'appends', appends, 'skipped', skipped, 'p50', lat[lat.length >> 1].toFixed(2), 'p99', lat[Math.floor(lat.length * 0.99)].toFixed(2));
  await e.close();
}
await c.stop();
process.exit(0);
