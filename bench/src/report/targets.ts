import type { CaseResult } from '../results.js';

/** The issue's targets, checked against the medians of this run. */
export interface TargetCheck {
  target: string;
  value: string;
  pass: boolean | null;
}

function median(results: CaseResult[], scenario: string, label: string | null, peer: string, metric: string): number | null {
  const r = results.find((c) => c.scenario === scenario && (label === null || c.label === label) && c.peer === peer && c.status === 'ok');
  const v = r?.summary[metric]?.median;
  return v === undefined || !Number.isFinite(v) ? null : v;
}

const f = (v: number, d = 2) => (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : v !== 0 && Math.abs(v) < 0.01 ? v.toExponential(2) : v.toFixed(d));

export function checkTargets(results: CaseResult[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  const ratio = (name: string, a: number | null, b: number | null, min: number, inverse = false) => {
    if (a === null || b === null || b === 0) return out.push({ target: name, value: 'not measured', pass: null });
    const r = inverse ? b / a : a / b;
    out.push({ target: name, value: `${f(r)}× (${f(a, 4)} vs ${f(b, 4)})`, pass: r >= min });
  };
  const tc = (m: string, label: string | null, scenario = 'fanout') => median(results, scenario, label, 'tokencast', m);
  const peer = (p: string, m: string, label: string | null, scenario = 'fanout') => median(results, scenario, label, p, m);
  const N = 'N=1000';
  const latencyLabel = (n: number) => results.find((c) => c.scenario === 'fanout' && c.params.clients === n && c.label.includes('@'))?.label ?? null;
  ratio('fan-out events/s at 1 000 clients ≥ 0.7× limit', tc('eventsPerSec', N), peer('limit', 'eventsPerSec', N), 0.7);
  ratio('fan-out events/s at 1 000 clients ≥ 3× socket.io', tc('eventsPerSec', N), peer('socket.io', 'eventsPerSec', N), 3);
  ratio('fan-out events/s at 1 000 clients ≥ 5× naive', tc('eventsPerSec', N), peer('naive', 'eventsPerSec', N), 5);
  // Latency is judged at the latency case's rate (a fast model), not at the saturating one.
  const p99At = (n: number, max: number, name: string) => {
    const label = latencyLabel(n);
    const v = label ? tc('p99Ms', label) : null;
    if (label === null && n === 10_000) return;
    const limitV = label ? peer('limit', 'p99Ms', label) : null;
    out.push({
      target: `${name} (${label ?? 'not run'})`,
      value: v === null ? 'not measured' : `${f(v)} ms${limitV === null ? '' : ` (limit: ${f(limitV)} ms)`}`,
      pass: v === null ? null : v <= max,
    });
  };
  p99At(1_000, 10, 'p99 latency at 1 000 clients ≤ 10 ms');
  p99At(10_000, 50, 'p99 latency at 10 000 clients ≤ 50 ms');
  const p99sat = tc('p99Ms', N);
  if (p99sat !== null) out.push({ target: 'p99 latency at 1 000 clients, 1 000 tokens/s (for reference)', value: `${f(p99sat)} ms`, pass: null });
  // A naive client that falls behind gets many entries per XREAD, so its commands per event
  // drop: the ratio is shown at both rates.
  ratio('Redis read commands/event at 1 000 clients ≤ 1/500 of naive (1 000 tokens/s)', tc('redisReadPerEvent', N), peer('naive', 'redisReadPerEvent', N), 500, true);
  const lat = latencyLabel(1_000);
  if (lat) ratio(`Redis read commands/event at 1 000 clients ≤ 1/500 of naive (${lat})`, tc('redisReadPerEvent', lat), peer('naive', 'redisReadPerEvent', lat), 500, true);
  ratio('Redis commands/event (writer included) at 1 000 clients vs naive (for reference)', tc('redisPerEvent', N), peer('naive', 'redisPerEvent', N), 0, true);
  const idle = results.find((c) => c.scenario === 'idle' && c.peer === 'tokencast' && c.status === 'ok');
  if (idle) {
    const held = idle.summary.held?.median ?? 0;
    const kib = idle.summary.kibPerConn?.median ?? Number.NaN;
    const asked = idle.params.target ?? 0;
    const capped = asked < 20_000 ? ` (asked ${f(asked, 0)}: the open-files limit of this machine)` : '';
    out.push({
      target: '≥ 20 000 idle SSE connections per edge',
      value: `${f(held, 0)} held${capped}`,
      pass: held >= 20_000 ? true : held >= asked && asked < 20_000 ? null : false,
    });
    out.push({ target: '≤ 16 KiB per idle connection', value: `${f(kib, 1)} KiB`, pass: kib <= 16 });
  } else out.push({ target: 'idle connections', value: 'not measured', pass: null });
  const slow = results.find((c) => c.scenario === 'slow' && c.peer === 'tokencast' && c.status === 'ok');
  if (slow) {
    const ch = slow.summary.p99ChangePct?.median ?? Number.NaN;
    const kib = slow.summary.kibPerStalled?.median ?? Number.NaN;
    out.push({ target: 'stalled clients change the fast p99 by ≤ 20 %', value: `${f(ch, 0)} %`, pass: ch <= 20 });
    out.push({ target: 'stalled clients cost ≤ 64 KiB each', value: `${f(kib, 1)} KiB`, pass: kib <= 64 });
  } else out.push({ target: 'slow clients', value: 'not measured', pass: null });
  return out;
}

export function targetsMarkdown(checks: TargetCheck[]): string {
  const lines = ['| target | this run | met |', '| --- | --- | --- |'];
  for (const c of checks) lines.push(`| ${c.target} | ${c.value} | ${c.pass === null ? '–' : c.pass ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}
