import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * `node bench/dist/profile.js <file.cpuprofile> [top]`: where a V8 CPU profile (node --cpu-prof,
 * or `npm run bench -- --profile`) spent its time, by function: self time and share.
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: Node[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export function selfTimes(p: Profile): { name: string; ms: number; share: number }[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const ms = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    ms.set(id, (ms.get(id) ?? 0) + ((deltas[i + 1] ?? 0) as number) / 1000);
  }
  const out = new Map<string, number>();
  let total = 0;
  for (const [id, t] of ms) {
    const n = byId.get(id);
    if (!n) continue;
    const f = n.callFrame;
    const where = f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : '';
    const name = `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    out.set(name, (out.get(name) ?? 0) + t);
    total += t;
  }
  return [...out.entries()].map(([name, t]) => ({ name, ms: t, share: total ? t / total : 0 })).sort((a, b) => b.ms - a.ms);
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/dist/profile.js <file.cpuprofile> [top]');
    process.exit(2);
  }
  const top = Number(process.argv[3] ?? 25);
  const rows = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const busy = rows.filter((r) => !/^\((idle|program|garbage collector)\)/.test(r.name)).reduce((a, r) => a + r.ms, 0);
  console.log(`${file}: ${busy.toFixed(0)} ms busy`);
  for (const r of rows.slice(0, top)) console.log(`${(100 * r.share).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`);
}
