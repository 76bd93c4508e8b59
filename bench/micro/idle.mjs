// Redis CPU of a tier with no clients at all (INFO cpu over N seconds): a fresh redis-server
// against a fresh 3-master Redis Cluster, the bench's own launchers. What a cluster costs per
// second before any token, the fixed term under the tier benchmark's per-token figures.
// Usage (after npm run build): node bench/micro/idle.mjs [SECONDS=10] [RUNS=3]
const { startClusterNodes } = await import('../dist/redis-cluster.js');
const { startRedis } = await import('../dist/redis.js');
const { Redis } = await import('ioredis');
const seconds = Number(process.argv[2] ?? 10);
const runs = Number(process.argv[3] ?? 3);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function cpuOf(port) {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await r.connect();
  const info = await r.info('cpu');
  r.disconnect();
  const field = (k) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)[1]);
  return field('used_cpu_sys') + field('used_cpu_user');
}

/** CPU ms per second summed over the ports, measured after a settling pause. */
async function idleMsPerSecond(ports) {
  await sleep(2_000);
  const before = await Promise.all(ports.map(cpuOf));
  await sleep(seconds * 1_000);
  const after = await Promise.all(ports.map(cpuOf));
  return (after.reduce((s, x, i) => s + x - before[i], 0) * 1_000) / seconds;
}

for (let i = 0; i < runs; i++) {
  const one = await startRedis(1_000);
  const single = await idleMsPerSecond([Number(new URL(one.url).port)]);
  await one.stop();
  const cluster = await startClusterNodes({ masters: 3, missing: (b) => `${b} is not on PATH`, dirPrefix: 'tokencast-idle-' });
  const summed = await idleMsPerSecond(cluster.ports);
  await cluster.stop();
  console.log(`run ${i + 1}: idle Redis CPU, one redis-server ${single.toFixed(2)} ms/s, 3-master cluster ${summed.toFixed(2)} ms/s summed`);
}
process.exit(0);
