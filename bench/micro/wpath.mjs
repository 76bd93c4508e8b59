// Write-path cost (run one checkout at a time against its own redis-server; usage: node wpath.mjs CHECKOUT redis://… [G] [ms] [duration]): G generations, each appends one token every `iv` ms, for `dur` ms. Redis CPU (INFO) per append.
const [root, url, G = '600', iv = '50', dur = '8000'] = process.argv.slice(2);
const { createRedisEngine } = await import(`${root}/packages/engine/dist/index.js`);
const protocol = await import(`${root}/packages/protocol/dist/index.js`);
const { claimedGenerations, paceAppends } = await import('./paced.mjs');
const { Redis } = await import('ioredis');
const admin = new Redis(url);
const e = createRedisEngine({ url, prefix: 'w' + Math.random().toString(36).slice(2, 6), name: 'w' });
const gens = await claimedGenerations(e, protocol, +G);
const info = async () => {
  const s = await admin.info('cpu');
  const c = await admin.info('commandstats');
  let n = 0;
  for (const m of c.matchAll(/calls=(\d+)/g)) n += +m[1];
  return [+/used_cpu_user:([\d.]+)/.exec(s)[1] + +/used_cpu_sys:([\d.]+)/.exec(s)[1], n];
};
const [c0, n0] = await info();
const { appends, skipped, p50, p99 } = await paceAppends(e.store, gens, +iv, +dur);
const [c1, n1] = await info();
console.log(
  root.split('/').pop(),
  `G=${G}`,
  'appends',
  appends,
  'skipped',
  skipped,
  'redis µs/append',
  (((c1 - c0) * 1e6) / appends).toFixed(1),
  'cmds/append',
  ((n1 - n0 - 2) / appends).toFixed(2),
  'p50',
  p50.toFixed(2),
  'p99',
  p99.toFixed(2),
  'ms',
);
await e.close();
admin.disconnect();
process.exit(0);
