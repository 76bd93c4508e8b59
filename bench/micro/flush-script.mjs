// One producer flush as Redis runs it (issue #13): a pipeline of PER explicit-id
// `XADD … NOMKSTREAM` and, once they answered, one PUBLISH of the doorbell ring carrying them
// (what append-batch.ts sent on one Redis until session 11), against one EVALSHA that runs the same XADDs and
// publishes the same ring itself, and against the pipeline carrying the PUBLISH after its XADDs
// ("inline", session 11), and the same inside MULTI … EXEC ("multi"). G streams, a flush every EVERY ms, two subscribers (the edges),
// phases interleaved on a fresh redis-server. Prints Redis CPU (INFO cpu) per token.
// Usage: [HOWS=pipeline,script,inline,multi] node bench/micro/flush-script.mjs redis://… [ROUNDS=3] [PHASE_MS=4000] [PER=60]
const { Redis } = await import('ioredis');
const { everyUntil, median, redisCpu } = await import('./common.mjs');
const [url, rounds = '3', phaseMs = '4000', perArg = '60'] = process.argv.slice(2);
const r = new Redis(url);
const admin = new Redis(url);
const subs = [new Redis(url), new Redis(url)];
let received = 0;
for (const s of subs) {
  await s.subscribe('fs:bell');
  s.on('message', () => received++);
}
const G = 600;
const PER = Number(perArg);
const EVERY = 5;
const words = [' the', ' quick', ' brown', ' fox', ' jumps'];
const LUA = `
local failed = false
local out = {}
for i = 1, #KEYS do
  local a = 3 + 3 * i
  local ok = redis.pcall('XADD', KEYS[i], 'NOMKSTREAM', ARGV[a - 2], ARGV[a - 1], ARGV[a])
  if type(ok) == 'table' and ok.err then ok = false end
  if not ok then failed = true end
  out[i] = ok and 1 or 0
end
redis.call('PUBLISH', ARGV[1], failed and ARGV[3] or ARGV[2])
return out`;
const sha = await admin.script('LOAD', LUA);
const cpu = () => redisCpu(admin);

async function phase(how) {
  await admin.flushall();
  const offs = new Array(G).fill(1);
  const first = r.pipeline();
  for (let g = 0; g < G; g++) first.xadd(`fs:{g${g}}:events`, '1-1', 't:1', ' a');
  await first.exec();
  await admin.config('resetstat');
  const c0 = await cpu();
  let n = 0;
  let g = 0;
  let ringNo = 0;
  await everyUntil(Number(phaseMs), EVERY, () => {
    const batch = [];
    for (let k = 0; k < PER; k++) {
      g = (g + 1) % G;
      offs[g] += 1;
      const ms = 20 + (offs[g] % 50);
      batch.push({ key: `fs:{g${g}}:events`, id: `g${g}`, off: offs[g], entryId: `${offs[g]}-1`, f: `t:${ms}`, v: words[offs[g] % 5] });
      n++;
    }
    ringNo++;
    const ring = JSON.stringify({ w: 'bench', n: ringNo, e: batch.map((b) => [b.id, b.off, b.f, b.v]), g: [] });
    if (how === 'pipeline') {
      const p = r.pipeline();
      for (const b of batch) p.xadd(b.key, 'NOMKSTREAM', b.entryId, b.f, b.v);
      p.exec().then(() => r.publish('fs:bell', ring));
    } else if (how === 'multi') {
      // The same in a transaction (what append-batch.ts sends on one Redis): refused for memory
      // while queuing, the XADDs and the ring go together.
      const p = r.pipeline();
      p.multi();
      for (const b of batch) p.xadd(b.key, 'NOMKSTREAM', b.entryId, b.f, b.v);
      p.publish('fs:bell', ring);
      p.exec();
      p.exec();
    } else if (how === 'inline') {
      // The ring in the same pipeline, without the transaction append-batch.ts wraps it in (multi).
      const p = r.pipeline();
      for (const b of batch) p.xadd(b.key, 'NOMKSTREAM', b.entryId, b.f, b.v);
      p.publish('fs:bell', ring);
      p.exec();
    } else {
      const fallback = JSON.stringify({ w: 'bench', n: ringNo, e: [], g: batch.map((b) => b.id) });
      const args = ['fs:bell', ring, fallback];
      for (const b of batch) args.push(b.entryId, b.f, b.v);
      r.evalsha(sha, batch.length, ...batch.map((b) => b.key), ...args);
    }
  });
  await new Promise((res) => setTimeout(res, 200));
  return (((await cpu()) - c0) * 1e6) / n;
}

const HOWS = (process.env.HOWS ?? 'pipeline,script,inline').split(',');
const seen = Object.fromEntries(HOWS.map((h) => [h, []]));
for (let i = 0; i < Number(rounds); i++) {
  // Rotated each round, so no phase always follows the same one.
  for (const how of HOWS.map((_, k) => HOWS[(k + i) % HOWS.length])) {
    const v = await phase(how);
    seen[how].push(v);
    console.log(`round ${i + 1} ${how.padEnd(8)} Redis µs per token ${v.toFixed(2)}`);
  }
}
for (const how of HOWS)
  console.log(`median ${how.padEnd(8)} Redis µs per token ${median(seen[how]).toFixed(2)}, ×${(median(seen[how]) / median(seen[HOWS[0]])).toFixed(2)} of ${HOWS[0]}`);
console.log(`rings received ${received}`);
await admin.flushall();
for (const c of [r, admin, ...subs]) c.disconnect();
