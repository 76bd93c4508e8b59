/**
 * Terminal output: colours only where a person is looking (a TTY), never when NO_COLOR is set
 * (https://no-color.org), on request with FORCE_COLOR; tables and human durations.
 */
export interface Style {
  readonly enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

type Env = Record<string, string | undefined>;

export function colorEnabled(isTTY: boolean, env: Env, noColorFlag: boolean): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0';
  return isTTY && env.TERM !== 'dumb';
}

export function makeStyle(enabled: boolean): Style {
  const wrap = (open: number, close: number) => (s: string) => (enabled ? `\u001b[${open}m${s}\u001b[${close}m` : s);
  return { enabled, bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39) };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what it strips
const ANSI = /\u001b\[[0-9;]*m/g;

/** Width as the terminal shows it (escape codes take no columns). */
export function visibleWidth(s: string): number {
  return s.replace(ANSI, '').length;
}

/** Left-aligned columns, two spaces apart; the header row is styled by the caller. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, visibleWidth(c));
  }
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visibleWidth(c))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** 850 ms, 2.40 s, 3m 05s, 23h 59m. null (not happened yet) prints as "-". */
export function duration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(2)} s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m ${pad(Math.floor((ms % 60_000) / 1_000))}s`;
  return `${Math.floor(ms / 3_600_000)}h ${pad(Math.floor((ms % 3_600_000) / 60_000))}m`;
}

/** 4s, 12m, 3h, 2d: how long ago an epoch-ms time was. */
export function age(epochMs: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - epochMs) / 1_000));
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

export function statusColor(style: Style, status: string): string {
  if (status === 'completed') return style.green(status);
  if (status === 'failed') return style.red(status);
  if (status === 'running' || status === 'queued') return style.yellow(status);
  return style.dim(status);
}
