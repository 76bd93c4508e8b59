// Write-path cost (run one checkout at a time against its own redis-server; usage: node wpath.mjs CHECKOUT redis://… [G] [ms] [duration]): G generations, each appends one token every `iv` ms, for `dur` ms. Redis CPU (INFO) per append.
const [root, url, G = '600', iv = '50', dur = '8000'] = process.argv.slice(2);
const { createRedisEngine } = await import(`${root}/packages/engine/dist/index.js`);
const { queuedMeta, newGenerationId } = await import(`${root}/packages/protocol/dist/index.js`);
const { Redis } = await import('ioredis');
const admin = new Redis(url);
const e = createRedisEngine({ url, prefix: 'w' + Math.random().toString(36).slice(2, 6), name: 'w' });
const req = { kind: 'chat', model: 'mock', messages: [{ role: 'user', content: 'x' }], prompt: '', maxTokens: null, stream: true, includeUsage: false, params: {} };
const gens = [];
for (let i = 0; i < +G; i++) {
  const m = queuedMeta(newGenerationId(), req);
  await e.queue.enqueue(m);
  const c = await e.store.claim(m.id, 'p');
  gens.push({ id: m.id, fence: c.fence, last: 0, busy: false });
}
const info = async () => {
  const s = await admin.info('cpu');
  const c = await admin.info('commandstats');
  let n = 0;
  for (const m of c.matchAll(/calls=(\d+)/g)) n += +m[1];
  return [+/used_cpu_user:([\d.]+)/.exec(s)[1] + +/used_cpu_sys:([\d.]+)/.exec(s)[1], n];
};
const [c0, n0] = await info();
let appends = 0,
  skipped = 0;
const lat = [];
const t0 = performance.now();
await new Promise((resolve) => {
  gens.forEach((g, i) => {
    const tick = async () => {
      if (performance.now() - t0 > +dur) return;
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
        const h = setInterval(tick, +iv);
        setTimeout(() => clearInterval(h), +dur);
      },
      (i * +iv) / +G,
    );
  });
  setTimeout(resolve, +dur + 500);
});
const [c1, n1] = await info();
lat.sort((a, b) => a - b);
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
  lat[lat.length >> 1].toFixed(2),
  'p99',
  lat[Math.floor(lat.length * 0.99)].toFixed(2),
  'ms',
);
await e.close();
admin.disconnect();
process.exit(0);
