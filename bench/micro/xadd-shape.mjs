// What an entry's shape costs Redis (issue #13): G streams, a pipeline of PER explicit-id
// `XADD … NOMKSTREAM` every EVERY ms (a producer's flush), one entry shape per phase, phases
// interleaved. Prints Redis CPU (INFO cpu) per XADD, the in-command part (INFO commandstats) and
// the median of each shape over the rounds.
// Usage: node bench/micro/xadd-shape.mjs redis://… [ROUNDS=3] [PHASE_MS=5000]
const { Redis } = await import('ioredis');
const { everyUntil, median, redisCpu } = await import('./common.mjs');
const [url, rounds = '3', phaseMs = '5000'] = process.argv.slice(2);
const r = new Redis(url);
const admin = new Redis(url);
const G = 600;
const PER = Number(process.env.PER ?? 60);
const EVERY = 5;
const words = [' the', ' quick', ' brown', ' fox', ' jumps'];
const all = {
  // releases before issue #13's entry change: k <kind> d <text> n <tokens> ms <ms> (8 items)
  legacy: (off) => ['k', 't', 'd', words[off % 5], 'n', '1', 'ms', String(20 + (off % 50))],
  // the same, two pairs: t <text> ms <ms> (4 items)
  pairs: (off) => ['t', words[off % 5], 'ms', String(20 + (off % 50))],
  // session 8's: the kind and the ms in the name, t:<ms> <text> (2 items)
  kindMs: (off) => [`t:${20 + (off % 50)}`, words[off % 5]],
  // what the store writes now: one name for every token, the ms in the value, t "<ms>:<text>"
  // (2 items): Redis stores the name once per node, flagging entries whose names equal their
  // node's first entry's
  shipped: (off) => ['t', `${20 + (off % 50)}:${words[off % 5]}`],
  // the floor: the text alone, no timing (2 items)
  textOnly: (off) => ['t', words[off % 5]],
};
// SHAPES=a,b,… runs only those (legacy is always run: the ratios are against it).
const only = process.env.SHAPES?.split(',');
const shapes = Object.fromEntries(Object.entries(all).filter(([k]) => k === 'legacy' || !only || only.includes(k)));
const cpu = () => redisCpu(admin);
const xaddStats = async () => {
  const m = /cmdstat_xadd:calls=(\d+),usec=(\d+)/.exec(await admin.info('commandstats'));
  return m ? Number(m[2]) / Number(m[1]) : 0;
};

async function phase(shape) {
  await admin.flushall();
  const offs = new Array(G).fill(1);
  const first = r.pipeline();
  for (let g = 0; g < G; g++) first.xadd(`xs:{g${g}}:events`, '1-1', ...shape(0));
  await first.exec();
  await admin.config('resetstat');
  const c0 = await cpu();
  let n = 0;
  let g = 0;
  await everyUntil(Number(phaseMs), EVERY, () => {
    const p = r.pipeline();
    for (let k = 0; k < PER; k++) {
      g = (g + 1) % G;
      offs[g] += 1;
      p.xadd(`xs:{g${g}}:events`, 'NOMKSTREAM', `${offs[g]}-1`, ...shape(offs[g]));
      n++;
    }
    p.exec();
  });
  await new Promise((res) => setTimeout(res, 200));
  return { total: (((await cpu()) - c0) * 1e6) / n, inCommand: await xaddStats() };
}

const seen = Object.fromEntries(Object.keys(shapes).map((k) => [k, { total: [], inCommand: [] }]));
for (let i = 0; i < Number(rounds); i++) {
  for (const [name, shape] of Object.entries(shapes)) {
    const m = await phase(shape);
    seen[name].total.push(m.total);
    seen[name].inCommand.push(m.inCommand);
    console.log(`round ${i + 1} ${name.padEnd(8)} Redis µs/XADD ${m.total.toFixed(2)} (in the command ${m.inCommand.toFixed(2)})`);
  }
}
for (const [name, s] of Object.entries(seen))
  console.log(
    `median ${name.padEnd(8)} Redis µs/XADD ${median(s.total).toFixed(2)} (in the command ${median(s.inCommand).toFixed(2)}), ×${(median(s.total) / median(seen.legacy.total)).toFixed(2)} of legacy`,
  );
await admin.flushall();
r.disconnect();
admin.disconnect();
