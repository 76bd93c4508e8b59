/**
 * The format-neutral event log of one generation. Each stored event has one offset and maps to
 * exactly one SSE event, whatever wire format a viewer asks for. A token event may carry several
 * model tokens (the producer coalesces when the upstream is faster than a write).
 */
export type GenerationStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export type TerminalStatus = Exclude<GenerationStatus, 'queued' | 'running'>;
export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'cancelled' | 'error';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface TokenEvent {
  offset: number;
  kind: 'token';
  text: string;
  /** Model tokens in this event (≥ 1). */
  tokens: number;
  /** Per model token: ms since the job was accepted (queued), one entry per token. */
  ms: number[];
}

export interface EndEvent {
  offset: number;
  kind: 'end';
  status: TerminalStatus;
  finishReason: FinishReason;
  usage: Usage;
  /** Set when status is failed (or cancelled with a reason); null otherwise. */
  error: { code: string; message: string } | null;
  /** ms since the job was accepted. */
  ms: number;
  /** Timing summary of the tokens this generation produced; null when not recorded. */
  timings?: TokenTimings | null;
}

/** Latency summary of a generation's tokens, from the per-token times (ms since accepted). */
export interface TokenTimings {
  /** ms from accepted to first token; null without tokens. */
  ttft_ms: number | null;
  /** Inter-token latency over consecutive tokens; null with fewer than 2 tokens. */
  itl_mean_ms: number | null;
  itl_p95_ms: number | null;
  tokens_per_second: number | null;
}

export function summarizeTokenTimes(tokenMs: readonly number[]): TokenTimings {
  const gaps: number[] = [];
  for (let i = 1; i < tokenMs.length; i++) gaps.push((tokenMs[i] as number) - (tokenMs[i - 1] as number));
  gaps.sort((a, b) => a - b);
  const mean = gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : null;
  const span = tokenMs.length > 1 ? (tokenMs[tokenMs.length - 1] as number) - (tokenMs[0] as number) : 0;
  return {
    ttft_ms: tokenMs.length > 0 ? (tokenMs[0] as number) : null,
    itl_mean_ms: mean === null ? null : Math.round(mean * 100) / 100,
    itl_p95_ms: gaps.length ? (gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * 0.95))] as number) : null,
    tokens_per_second: span > 0 ? Math.round(((tokenMs.length - 1) / span) * 1000 * 100) / 100 : null,
  };
}

export type StoredEvent = TokenEvent | EndEvent;

export function isTerminalStatus(s: GenerationStatus): s is TerminalStatus {
  return s === 'completed' || s === 'failed' || s === 'cancelled';
}

/** Flat field list as written to a Redis stream entry (XADD … field value …). */
export function eventToFields(ev: Omit<TokenEvent, 'offset'> | Omit<EndEvent, 'offset'>): string[] {
  if (ev.kind === 'token') {
    return ['k', 't', 'd', ev.text, 'n', String(ev.tokens), 'ms', ev.ms.join(',')];
  }
  const f = ['k', 'e', 's', ev.status, 'f', ev.finishReason, 'u', JSON.stringify(ev.usage), 'ms', String(ev.ms)];
  if (ev.error) f.push('c', ev.error.code, 'm', ev.error.message);
  if (ev.timings) f.push('tm', JSON.stringify(ev.timings));
  return f;
}

/** Inverse of eventToFields. Returns null for an entry tokencast did not write. */
export function fieldsToEvent(offset: number, fields: readonly string[]): StoredEvent | null {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i] as string, fields[i + 1] as string);
  const k = m.get('k');
  if (k === 't') {
    const ms = (m.get('ms') ?? '').split(',').filter(Boolean).map(Number);
    return { offset, kind: 'token', text: m.get('d') ?? '', tokens: Number(m.get('n') ?? 1), ms };
  }
  if (k === 'e') {
    const code = m.get('c');
    return {
      offset,
      kind: 'end',
      status: (m.get('s') ?? 'failed') as TerminalStatus,
      finishReason: (m.get('f') ?? 'error') as FinishReason,
      usage: parseUsage(m.get('u')),
      error: code === undefined ? null : { code, message: m.get('m') ?? '' },
      ms: Number(m.get('ms') ?? 0),
      timings: parseTimings(m.get('tm')),
    };
  }
  return null;
}

export function emptyUsage(): Usage {
  return { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
}

function parseTimings(raw: string | undefined): TokenTimings | null {
  if (!raw) return null;
  try {
    return JSON.parse(raw) as TokenTimings;
  } catch {
    return null;
  }
}

function parseUsage(raw: string | undefined): Usage {
  if (!raw) return emptyUsage();
  try {
    const u = JSON.parse(raw) as Partial<Usage>;
    const p = Number(u.prompt_tokens ?? 0);
    const c = Number(u.completion_tokens ?? 0);
    return { prompt_tokens: p, completion_tokens: c, total_tokens: Number(u.total_tokens ?? p + c) };
  } catch {
    return emptyUsage();
  }
}
