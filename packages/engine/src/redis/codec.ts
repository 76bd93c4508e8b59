import {
  type EndEvent,
  type FinishReason,
  type GenerationMeta,
  type GenerationRequest,
  type GenerationStatus,
  type NewStoredEvent,
  normalizeUsage,
  type ReasoningEvent,
  type StoredEvent,
  type TerminalStatus,
  type TokenEvent,
  type TokenLogprob,
  type TokenTimings,
  type Usage,
} from '@tokencast/protocol';

/*
 * How a generation sits in Redis, both halves: its meta as a hash (metaToHash / hashToMeta) and
 * each event as a stream entry's fields (eventToFields / fieldsToEvent). The memory engine
 * compares events by the same fields, so both engines recognise a retried append alike.
 */

/** Meta hash field names, as an operator sees them with `HGETALL <prefix>:{<id>}:meta`. */
export function metaToHash(m: GenerationMeta): Record<string, string> {
  return {
    id: m.id,
    status: m.status,
    kind: m.kind,
    model: m.model,
    request: JSON.stringify(m.request),
    created_at: String(m.createdAt),
    started_at: String(m.startedAt),
    first_token_at: String(m.firstTokenAt),
    completed_at: String(m.completedAt),
    owner: m.owner,
    producer: m.producer,
    fence: String(m.fence),
    last_offset: String(m.lastOffset),
    tokens: String(m.tokens),
    finish_reason: m.finishReason ?? '',
    usage: m.usage ? JSON.stringify(m.usage) : '',
    error: m.error ? JSON.stringify(m.error) : '',
  };
}

export function hashToMeta(h: Record<string, string>): GenerationMeta | null {
  if (!h.id || !h.status) return null;
  return {
    id: h.id,
    status: h.status as GenerationStatus,
    kind: h.kind === 'completion' ? 'completion' : 'chat',
    model: h.model ?? '',
    request: JSON.parse(h.request ?? '{}') as GenerationRequest,
    createdAt: Number(h.created_at ?? 0),
    startedAt: Number(h.started_at ?? 0),
    firstTokenAt: Number(h.first_token_at ?? 0),
    completedAt: Number(h.completed_at ?? 0),
    owner: h.owner ?? '',
    cancelRequestedAt: Number(h.cancel_requested_at ?? 0),
    producer: h.producer ?? '',
    fence: Number(h.fence ?? 0),
    lastOffset: Number(h.last_offset ?? 0),
    tokens: Number(h.tokens ?? 0),
    finishReason: (h.finish_reason || null) as FinishReason | null,
    usage: h.usage ? (JSON.parse(h.usage) as Usage) : null,
    error: h.error ? (JSON.parse(h.error) as { code: string; message: string }) : null,
  };
}

/*
 * Redis fields, short and readable in redis-cli (docs/PROTOCOL.md, "Storage (Redis)"):
 *   k  kind: t text, r reasoning, c tool-call start, a tool-call arguments, x refusal, e end
 *   d  the delta's text (or arguments piece)    n  model tokens    ms  per-token ms since accepted
 *   p  part (left out when 0)    s  "1" on a part's first event (left out otherwise)
 *   lp logprobs JSON    sg signature    rd redacted thinking    i tool-call index    id call id    nm tool name
 *   end: s status  f finish reason  u usage JSON  ms  c/m error code/message  tm timings JSON  np parts (left out when 0)
 */
const KIND_CODE = { token: 't', reasoning: 'r', refusal: 'x' } as const;

function deltaFields(code: string, ev: { text: string; tokens: number; ms: number[]; part?: number; start?: boolean }): string[] {
  const f = ['k', code, 'd', ev.text, 'n', String(ev.tokens), 'ms', ev.ms.join(',')];
  if (ev.part !== undefined && ev.part !== 0) f.push('p', String(ev.part));
  if (ev.start === true) f.push('s', '1');
  return f;
}

/** Flat field list as written to a Redis stream entry (XADD … field value …). */
export function eventToFields(ev: NewStoredEvent): string[] {
  switch (ev.kind) {
    case 'token': {
      const f = deltaFields(KIND_CODE.token, ev);
      if (ev.logprobs && ev.logprobs.length > 0) f.push('lp', JSON.stringify(ev.logprobs));
      return f;
    }
    case 'reasoning': {
      const f = deltaFields(KIND_CODE.reasoning, ev);
      if (ev.signature !== undefined) f.push('sg', ev.signature);
      if (ev.redacted !== undefined) f.push('rd', ev.redacted);
      return f;
    }
    case 'refusal':
      return deltaFields(KIND_CODE.refusal, ev);
    case 'tool_call':
      return ['k', 'c', 'p', String(ev.part), 'i', String(ev.index), 'id', ev.callId, 'nm', ev.name, 'ms', String(ev.ms)];
    case 'tool_args':
      return ['k', 'a', 'p', String(ev.part), 'i', String(ev.index), 'd', ev.args, 'n', String(ev.tokens), 'ms', ev.ms.join(',')];
    case 'end': {
      const f = ['k', 'e', 's', ev.status, 'f', ev.finishReason, 'u', JSON.stringify(ev.usage), 'ms', String(ev.ms)];
      if (ev.error) f.push('c', ev.error.code, 'm', ev.error.message);
      if (ev.timings) f.push('tm', JSON.stringify(ev.timings));
      if (ev.parts !== undefined && ev.parts > 0) f.push('np', String(ev.parts));
      return f;
    }
  }
}

function msList(raw: string | undefined): number[] {
  return (raw ?? '').split(',').filter(Boolean).map(Number);
}

/** A non-negative integer field; `fallback` when absent or malformed. */
function intField(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
}

/** part and start as stored: left out when 0 / false, exactly as eventToFields writes them. */
function partFields(m: Map<string, string>): { part?: number; start?: true } {
  const out: { part?: number; start?: true } = {};
  const part = intField(m.get('p'), 0);
  if (part !== 0) out.part = part;
  if (m.get('s') === '1') out.start = true;
  return out;
}

/** A tool call's part, whether the event starts it, and the call's index among the tool calls. */
function toolPlace<S extends boolean>(m: Map<string, string>, start: S): { part: number; start: S; index: number } {
  return { part: intField(m.get('p'), 0), start, index: intField(m.get('i'), 0) };
}

/** Inverse of eventToFields. Returns null for an entry tokencast did not write (unknown `k`). */
export function fieldsToEvent(offset: number, fields: readonly string[]): StoredEvent | null {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i] as string, fields[i + 1] as string);
  switch (m.get('k')) {
    case 't': {
      const ev: TokenEvent = { offset, kind: 'token', text: m.get('d') ?? '', tokens: intField(m.get('n'), 1), ms: msList(m.get('ms')), ...partFields(m) };
      const lp = parseJson<TokenLogprob[]>(m.get('lp'));
      if (Array.isArray(lp)) ev.logprobs = lp;
      return ev;
    }
    case 'r': {
      const ev: ReasoningEvent = { offset, kind: 'reasoning', text: m.get('d') ?? '', tokens: intField(m.get('n'), 0), ms: msList(m.get('ms')), ...partFields(m) };
      const sg = m.get('sg');
      if (sg !== undefined) ev.signature = sg;
      const rd = m.get('rd');
      if (rd !== undefined) ev.redacted = rd;
      return ev;
    }
    case 'x':
      return { offset, kind: 'refusal', text: m.get('d') ?? '', tokens: intField(m.get('n'), 1), ms: msList(m.get('ms')), ...partFields(m) };
    case 'c':
      return { offset, kind: 'tool_call', ...toolPlace(m, true), callId: m.get('id') ?? '', name: m.get('nm') ?? '', ms: Number(m.get('ms') ?? 0) };
    case 'a':
      return { offset, kind: 'tool_args', ...toolPlace(m, false), args: m.get('d') ?? '', tokens: intField(m.get('n'), 1), ms: msList(m.get('ms')) };
    case 'e': {
      const code = m.get('c');
      const ev: EndEvent = {
        offset,
        kind: 'end',
        status: (m.get('s') ?? 'failed') as TerminalStatus,
        finishReason: (m.get('f') ?? 'error') as FinishReason,
        usage: parseUsage(m.get('u')),
        error: code === undefined ? null : { code, message: m.get('m') ?? '' },
        ms: Number(m.get('ms') ?? 0),
        timings: parseJson<TokenTimings>(m.get('tm')),
      };
      const np = intField(m.get('np'), 0);
      if (np > 0) ev.parts = np;
      return ev;
    }
    default:
      return null;
  }
}

function parseJson<T>(raw: string | undefined): T | null {
  if (!raw) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

function parseUsage(raw: string | undefined): Usage {
  return normalizeUsage(parseJson<Partial<Record<keyof Usage, unknown>>>(raw));
}
