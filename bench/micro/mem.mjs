// Redis memory per stored token (usage: node mem.mjs CHECKOUT redis://… [G] [N]): G generations × N one-token events of ~4 bytes of text, ended; INFO used_memory delta / tokens.
const [root, url, G = '100', N = '1000'] = process.argv.slice(2);
const { createRedisEngine } = await import(`${root}/packages/engine/dist/index.js`);
const { queuedMeta, newGenerationId } = await import(`${root}/packages/protocol/dist/index.js`);
const { Redis } = await import('ioredis');
const admin = new Redis(url);
const e = createRedisEngine({ url, prefix: 'm' + Math.random().toString(36).slice(2, 6), name: 'm' });
const req = { kind: 'chat', model: 'mock', messages: [{ role: 'user', content: 'x' }], prompt: '', maxTokens: null, stream: true, includeUsage: false, params: {} };
const words = [' the', ' of', ' cat', ' and', ' to'];
const used = async () => +/used_memory:(\d+)/.exec(await admin.info('memory'))[1];
const gens = [];
for (let i = 0; i < +G; i++) {
  const m = queuedMeta(newGenerationId(), req);
  await e.queue.enqueue(m);
  const c = await e.store.claim(m.id, 'p');
  gens.push({ id: m.id, fence: c.fence });
}
const before = await used();
await Promise.all(
  gens.map(async (g) => {
    let last = 0;
    for (let i = 0; i < +N; i++) last = (await e.store.append(g.id, g.fence, last, [{ kind: 'token', text: words[i % 5], tokens: 1, ms: [1000 + i * 50] }])).lastOffset;
  }),
);
const after = await used();
const bell = Number((await admin.call('MEMORY', 'USAGE', (await admin.keys('*:bell'))[0] ?? 'none', 'SAMPLES', '0')) ?? 0);
console.log('bell bytes', bell, 'per token w/o bell', ((after - before - bell) / (+G * +N)).toFixed(1));
const [k, v] = await admin.xrevrange((await admin.keys('*:events'))[0], '+', '-', 'COUNT', 1).then((r) => r[0]);
console.log(root.split('/').pop(), 'bytes per stored token', ((after - before) / (+G * +N)).toFixed(1), 'entry', k, JSON.stringify(v));
await e.close();
admin.disconnect();
process.exit(0);
