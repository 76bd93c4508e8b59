// Redis Functions against EVALSHA (issue #13 names "Redis Functions where they beat EVALSHA"):
// append.lua's careful first append of one generation (what a Redis Cluster pays per generation:
// one call each, with a checkpoint), loaded once as a script (EVALSHA) and once as a function
// library (FCALL) with the same body; rounds interleaved. Prints Redis CPU (INFO cpu) and in-call
// time (INFO commandstats) per call, and the medians.
// With `existing`, each stream already holds one entry (a careful append that creates no stream).
// Usage: node bench/micro/fcall.mjs redis://… [ROUNDS=5] [GENS=3000] [existing]
const { Redis } = await import('ioredis');
const { median } = await import('./common.mjs');
const { readFileSync } = await import('node:fs');
const [url, rounds = '5', gens = '3000', existing] = process.argv.slice(2);
const after = existing === 'existing' ? 1 : 0;
const r = new Redis(url);
const lua = readFileSync(new URL('../../packages/engine/lua/append.lua', import.meta.url), 'utf8');
const body = lua.replace(/^--\[\[[\s\S]*?\]\]\n/, '');
const sha = await r.script('LOAD', lua);
await r.call('FUNCTION', 'LOAD', 'REPLACE', `#!lua name=tcbench\nredis.register_function('tc_append', function(KEYS, ARGV)\n${body}\nend)\n`);
const G = Number(gens);
const info = async () => {
  const s = await r.info('cpu');
  const c = await r.info('commandstats');
  const m = /cmdstat_(evalsha|fcall):calls=(\d+),usec=(\d+)/.exec(c);
  return { cpu: Number(/used_cpu_user:([\d.]+)/.exec(s)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(s)[1]), usec: m ? Number(m[3]) / Number(m[2]) : 0 };
};

async function phase(how, round) {
  await r.flushall('SYNC');
  const p = r.pipeline();
  for (let g = 0; g < G; g++) p.hset(`fc:{g${g}}:meta`, 'id', `g${g}`, 'status', 'running', 'fence', '1', 'last_offset', '0', 'tokens', '0', 'first_token_at', '0');
  if (after) for (let g = 0; g < G; g++) p.xadd(`fc:{g${g}}:events`, '1-1', 't:1', ' a');
  await p.exec();
  await r.config('RESETSTAT');
  const before = await info();
  // The producer's careful appends are sent in flushes; 60 per pipeline here.
  for (let g = 0; g < G; g += 60) {
    const q = r.pipeline();
    for (let k = g; k < Math.min(G, g + 60); k++) {
      // ARGV: no bell, no ring head (append.lua's header), then the generation's 8 items and its event.
      const args = [`fc:{g${k}}:events`, `fc:{g${k}}:meta`, '', '', 1, after, 1, Date.now(), 3600, 1, '', '', 2, `t:${round}`, ' the'];
      if (how === 'evalsha') q.evalsha(sha, 2, ...args);
      else q.fcall('tc_append', 2, ...args);
    }
    const res = await q.exec();
    const bad = res.find(([err, v]) => err || Number(v[0]) !== after + 1);
    if (bad) throw new Error(`${how}: ${bad[0] ?? bad[1]}`);
  }
  const end = await info();
  return { cpu: ((end.cpu - before.cpu) * 1e6) / G, inCall: end.usec };
}

const seen = { evalsha: { cpu: [], inCall: [] }, fcall: { cpu: [], inCall: [] } };
for (let i = 0; i < Number(rounds); i++) {
  for (const how of i % 2 ? ['fcall', 'evalsha'] : ['evalsha', 'fcall']) {
    const m = await phase(how, i);
    seen[how].cpu.push(m.cpu);
    seen[how].inCall.push(m.inCall);
    console.log(`round ${i + 1} ${how.padEnd(7)} Redis µs per careful append ${m.cpu.toFixed(1)} (in the call ${m.inCall.toFixed(1)})`);
  }
}
for (const how of ['evalsha', 'fcall'])
  console.log(`median ${how.padEnd(7)} Redis µs per careful append ${median(seen[how].cpu).toFixed(1)} (in the call ${median(seen[how].inCall).toFixed(1)})`);
await r.call('FUNCTION', 'DELETE', 'tcbench');
await r.flushall();
r.disconnect();
