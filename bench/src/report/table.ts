import { PEERS, type PeerName } from '../peers/names.js';
import type { CaseResult } from '../results.js';
import type { Summary } from '../stats.js';

/** Columns shown per scenario: metric key, header, digits. */
const COLUMNS: Record<string, [string, string, number][]> = {
  fanout: [
    ['eventsPerSec', 'events/s', 0],
    ['p50Ms', 'p50 ms', 2],
    ['p99Ms', 'p99 ms', 2],
    ['cpuPct', 'server CPU %', 0],
    ['cpuUsPerEvent', 'CPU µs/event', 2],
    ['redisPerEvent', 'Redis cmds/event', 4],
    ['redisReadPerEvent', 'read cmds/event', 4],
  ],
  many: [
    ['eventsPerSec', 'events/s', 0],
    ['p50Ms', 'p50 ms', 2],
    ['p99Ms', 'p99 ms', 2],
    ['cpuPct', 'server CPU %', 0],
    ['redisCpuUsPerToken', 'Redis CPU µs/token', 1],
    ['redisCmdsPerToken', 'Redis cmds/token', 2],
    ['redisReadPerEvent', 'read cmds/event', 4],
  ],
  idle: [
    ['held', 'connections held', 0],
    ['kibPerConn', 'KiB/connection', 1],
    ['rssMiB', 'RSS MiB', 0],
    ['connectsPerSec', 'connects/s', 0],
  ],
  late: [
    ['allMs', 'all done ms', 0],
    ['p50Ms', 'p50 done ms', 0],
    ['eventsPerSec', 'events/s', 0],
    ['cpuPct', 'server CPU %', 0],
    ['redisPerEvent', 'Redis cmds/event', 5],
  ],
  producer: [
    ['tokensPerSec', 'tokens/s', 0],
    ['eventsPerSec', 'appends/s', 0],
    ['redisCpuUsPerToken', 'Redis CPU µs/token', 2],
    ['producerCpuPct', 'producer CPU %', 0],
  ],
  slow: [
    ['p99AloneMs', 'fast p99 alone ms', 2],
    ['p99StalledMs', 'fast p99 w/ stalled ms', 2],
    ['p99ChangePct', 'p99 change %', 0],
    ['rssAloneMiB', 'peak RSS alone MiB', 0],
    ['rssStalledMiB', 'peak RSS w/ stalled MiB', 0],
    ['kibPerStalled', 'KiB/stalled client', 1],
  ],
};

export const TITLES: Record<string, string> = {
  fanout: 'Fan-out: one generation to N SSE clients',
  many: 'Many generations: G followed generations × W watchers, same total tokens/s',
  idle: 'Idle capacity: idle connections held by one server process',
  late: 'Late joiners: clients join a completed generation at once',
  producer: 'Producer: tokens/s one producer publishes',
  slow: 'Slow clients: 1 fast client, alone and with stalled clients',
};

function fmt(v: number, digits: number): string {
  if (!Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 10_000) return Math.round(v).toLocaleString('en-US');
  if (v !== 0 && Math.abs(v) < 10 ** -Math.min(digits, 3)) return v.toExponential(1);
  return v.toFixed(digits);
}

export function cell(s: Summary | undefined, digits: number): string {
  if (!s) return '–';
  if (s.n === 1 || s.min === s.max) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

function checks(c: CaseResult): string {
  if (c.status === 'n/a') return `n/a: ${c.note ?? ''}`;
  if (c.status === 'failed') return `FAILED: ${c.note ?? ''}`;
  const bad = c.runs.filter((r) => !r.checks.identical || r.checks.complete < r.checks.clients);
  const notes = bad.length ? `${bad.length}/${c.runs.length} runs incomplete or differing: ${bad[0]?.checks.problems.slice(0, 2).join('; ')}` : 'all complete, identical text';
  return c.note ? `${notes}; errors: ${c.note}` : notes;
}

function rank(labels: string[], label: string): number {
  const i = labels.indexOf(label);
  return i < 0 ? labels.length : i;
}

/** Markdown tables, one per scenario: median (min–max) over the repetitions. */
export function markdown(results: CaseResult[]): string {
  const out: string[] = [];
  for (const scenario of Object.keys(COLUMNS)) {
    // Cases in run order, peers in the fixed order within each case.
    const labels = [...new Set(results.filter((r) => r.scenario === scenario && r.status !== 'n/a').map((r) => r.label))];
    const rows = results
      .filter((r) => r.scenario === scenario)
      .sort((a, b) => rank(labels, a.label) - rank(labels, b.label) || PEERS.indexOf(a.peer as PeerName) - PEERS.indexOf(b.peer as PeerName));
    if (rows.length === 0) continue;
    const cols = COLUMNS[scenario] as [string, string, number][];
    out.push(`### ${TITLES[scenario]}`, '');
    out.push(`| case | peer | ${cols.map((c) => c[1]).join(' | ')} | checks |`);
    out.push(`| --- | --- | ${cols.map(() => '---:').join(' | ')} | --- |`);
    for (const r of rows) {
      const cells = r.status === 'ok' ? cols.map(([k, , d]) => cell(r.summary[k], d)) : cols.map(() => (r.status === 'n/a' ? 'n/a' : '–'));
      out.push(`| ${r.label} | ${r.peer} | ${cells.join(' | ')} | ${checks(r).replaceAll('|', '/')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
