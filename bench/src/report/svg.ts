import type { CaseResult } from '../results.js';

/**
 * The chart for README.md, drawn as plain SVG: grouped bars (one group per case, one bar per
 * peer) with whiskers for min–max, on a log scale where values span decades.
 */
const COLORS: Record<string, string> = {
  tokencast: '#2563eb',
  naive: '#dc2626',
  'resumable-stream': '#9333ea',
  'socket.io': '#16a34a',
  limit: '#6b7280',
};

interface Panel {
  title: string;
  unit: string;
  log: boolean;
  groups: string[];
  peers: string[];
  /** value[g][p]: median, min, max; or why there is none ('n/a' by design, 'failed': crashed, '–': not measurable, e.g. never complete). */
  values: ({ median: number; min: number; max: number } | 'n/a' | 'failed' | '–')[][];
}

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function fmtTick(v: number): string {
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  if (v > 0 && v < 0.01) return `1e${Math.round(Math.log10(v))}`;
  return String(Number(v.toPrecision(3)));
}

function panel(p: Panel, x0: number, y0: number, w: number, h: number): string {
  const out: string[] = [];
  const left = 56;
  const top = 28;
  const bottom = 34;
  const pw = w - left - 10;
  const ph = h - top - bottom;
  const all = p.values.flat().filter((v): v is { median: number; min: number; max: number } => typeof v === 'object' && v.max > 0);
  out.push(`<text x="${x0 + w / 2}" y="${y0 + 16}" text-anchor="middle" font-size="14" font-weight="600">${esc(p.title)}</text>`);
  if (all.length === 0) return out.join('');
  const positive = all.map((v) => (v.min > 0 ? v.min : v.median)).filter((v) => v > 0);
  let lo = p.log ? 10 ** Math.floor(Math.log10(Math.min(...positive))) : 0;
  let hi = Math.max(...all.map((v) => v.max));
  hi = p.log ? 10 ** Math.ceil(Math.log10(hi)) : niceCeil(hi);
  if (p.log && hi <= lo) hi = lo * 10;
  if (!p.log) lo = 0;
  const y = (v: number) => {
    const t = p.log ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo);
    return y0 + top + ph - t * ph;
  };
  const ticks: number[] = [];
  if (p.log) for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push(v);
  else for (let i = 0; i <= 4; i++) ticks.push((hi * i) / 4);
  for (const t of ticks) {
    const yy = y(t).toFixed(1);
    out.push(`<line x1="${x0 + left}" x2="${x0 + left + pw}" y1="${yy}" y2="${yy}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${x0 + left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="#4b5563">${fmtTick(t)}</text>`);
  }
  out.push(
    `<text x="${x0 + 14}" y="${y0 + top + ph / 2}" transform="rotate(-90 ${x0 + 14} ${y0 + top + ph / 2})" text-anchor="middle" font-size="11" fill="#4b5563">${esc(p.unit)}</text>`,
  );
  const gw = pw / p.groups.length;
  const bw = Math.min(22, (gw * 0.8) / p.peers.length);
  p.groups.forEach((g, gi) => {
    const gx = x0 + left + gi * gw + (gw - bw * p.peers.length) / 2;
    out.push(`<text x="${x0 + left + gi * gw + gw / 2}" y="${y0 + top + ph + 16}" text-anchor="middle" font-size="11">${esc(g)}</text>`);
    p.peers.forEach((peer, pi) => {
      const v = p.values[gi]?.[pi];
      const bx = gx + pi * bw;
      if (typeof v !== 'object' || (p.log && v.median <= 0)) {
        const label = typeof v === 'object' ? '≤0' : v === 'failed' ? 'fail' : v;
        out.push(`<text x="${bx + bw / 2}" y="${y0 + top + ph - 4}" text-anchor="middle" font-size="8" fill="${v === 'failed' ? '#b91c1c' : '#9ca3af'}">${label}</text>`);
        return;
      }
      const yv = y(v.median);
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${yv.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(y0 + top + ph - yv).toFixed(1)}" fill="${COLORS[peer] ?? '#000'}"><title>${esc(`${peer} ${g}: ${v.median.toPrecision(4)} ${p.unit}`)}</title></rect>`,
      );
      if (v.max > v.min) {
        const cx = (bx + (bw - 2) / 2).toFixed(1);
        out.push(`<line x1="${cx}" x2="${cx}" y1="${y(v.min).toFixed(1)}" y2="${y(v.max).toFixed(1)}" stroke="#111827" stroke-width="1"/>`);
      }
    });
  });
  return out.join('');
}

function niceCeil(v: number): number {
  if (v <= 0) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

function series(results: CaseResult[], scenario: string, metric: string, peers: string[]): { groups: string[]; values: Panel['values'] } {
  const groups = [...new Set(results.filter((r) => r.scenario === scenario && r.status !== 'n/a').map((r) => r.label))];
  const values = groups.map((g) =>
    peers.map((peer) => {
      const r = results.find((c) => c.scenario === scenario && c.label === g && c.peer === peer);
      const s = r?.status === 'ok' ? r.summary[metric] : undefined;
      if (s && Number.isFinite(s.median)) return { median: s.median, min: s.min, max: s.max };
      if (r?.status === 'ok') return '–';
      return r?.status === 'n/a' || !r ? 'n/a' : 'failed';
    }),
  );
  return { groups, values };
}

export function chart(results: CaseResult[], peers: string[], subtitle: string): string {
  const panels: Panel[] = [];
  const add = (scenario: string, metric: string, title: string, unit: string, log: boolean) => {
    const s = series(results, scenario, metric, peers);
    if (s.groups.length) panels.push({ title, unit, log, peers, ...s });
  };
  add('fanout', 'eventsPerSec', 'Fan-out: delivered events/s (higher is better)', 'events/s', true);
  add('fanout', 'p99Ms', 'Fan-out: p99 write → receive latency (lower is better)', 'ms', true);
  add('fanout', 'redisReadPerEvent', 'Fan-out: Redis read commands per delivered event', 'commands', true);
  add('many', 'eventsPerSec', 'Many generations: events/s', 'events/s', false);
  add('idle', 'kibPerConn', 'Idle: memory per connection (lower is better)', 'KiB', false);
  add('late', 'allMs', 'Late joiners: time until all have the text (lower is better)', 'ms', true);
  add('slow', 'kibPerStalled', 'Slow clients: server memory per stalled client', 'KiB', true);
  const cols = 2;
  const pw = 520;
  const phh = 250;
  const rows = Math.ceil(panels.length / cols);
  const W = cols * pw;
  const legendH = 48;
  const H = rows * phh + legendH + 10;
  const body: string[] = [];
  panels.forEach((p, i) => {
    body.push(panel(p, (i % cols) * pw, legendH + Math.floor(i / cols) * phh, pw, phh));
  });
  const legend = peers
    .map((p, i) => `<rect x="${12 + i * 150}" y="30" width="12" height="12" fill="${COLORS[p] ?? '#000'}"/><text x="${30 + i * 150}" y="40" font-size="12">${esc(p)}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="12" y="18" font-size="13" fill="#374151">${esc(subtitle)}</text>
${legend}
${body.join('\n')}
</svg>
`;
}
