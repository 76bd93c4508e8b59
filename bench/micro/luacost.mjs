// Lua cost of one append, in-script (INFO commandstats usec): the old append.lua (one call per
// generation) against the new one (one call for 32 generations). Usage: node luacost.mjs redis://… OLD_CHECKOUT NEW_CHECKOUT
// Both checkouts must predate session 11, whose append.lua takes two leading ARGV (bell, ring head) and a ring item per generation.
const { Redis } = await import('ioredis');
const fs = await import('node:fs');
const r = new Redis(process.argv[2]);
await r.flushall(); // its own redis-server: ids are reused run to run
const oldLua = fs.readFileSync(`${process.argv[3]}/packages/engine/lua/append.lua`, 'utf8');
const newLua = fs.readFileSync(`${process.argv[4]}/packages/engine/lua/append.lua`, 'utf8');
const G = 32,
  ROUNDS = 300;
const fields = ['k', 't', 'd', ' word', 'n', '1', 'ms', '123'];
async function setup(p) {
  const ids = [];
  for (let g = 0; g < G; g++) {
    const id = `${p}${g}`;
    await r.hset(`${p}:{${id}}:meta`, 'id', id, 'status', 'running', 'fence', '1', 'last_offset', '0', 'tokens', '0', 'first_token_at', '0');
    ids.push(id);
  }
  return ids;
}
async function stat() {
  const s = await r.info('commandstats');
  const o = {};
  for (const m of s.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)) o[m[1]] = [+m[2], +m[3]];
  return o;
}
// old: one call per gen
let ids = await setup('o');
await r.config('RESETSTAT');
for (let i = 0; i < ROUNDS; i++) {
  const p = r.pipeline();
  for (const id of ids) p.eval(oldLua, 2, `o:{${id}}:events`, `o:{${id}}:meta`, 1, 3600, 1, 0, '', 1, i, fields.length, ...fields);
  await p.exec();
}
let s = await stat();
const oldUs = s.eval[1] / (ROUNDS * G);
console.log('old: in-script µs per append', oldUs.toFixed(2), JSON.stringify(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, (v[1] / v[0]).toFixed(2)]))));
ids = await setup('n');
await r.config('RESETSTAT');
for (let i = 0; i < ROUNDS; i++) {
  const keys = [],
    args = [];
  for (const id of ids) {
    keys.push(`n:{${id}}:events`, `n:{${id}}:meta`);
    args.push(1, i, 1, 0, i % 100 === 0 ? 3600 : 0, i + 1, '', fields.length, ...fields);
  }
  keys.push('n:bell');
  await r.eval(newLua, keys.length, ...keys, ...args);
}
s = await stat();
const newUs = s.eval[1] / (ROUNDS * G);
console.log('new: in-script µs per append', newUs.toFixed(2), JSON.stringify(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, (v[1] / v[0]).toFixed(2)]))));
r.disconnect();
