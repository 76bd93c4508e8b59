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
 * Redis fields, short and readable in redis-cli (docs/PROTOCOL.md, "Storage (Redis)"). An entry
 * opens with one pair: its name is the kind, one letter; its value the ms since the job was
 * accepted (one per model token, comma-separated; one for a call start and for the end), a colon,
 * and the event's payload. Optional fields follow, left out when they hold their default:
 *   t "<ms>:<text>"    token      r "<ms>:<text>"  reasoning      x "<ms>:<text>"  refusal
 *   a "<ms>:<args>"    tool-call arguments piece   c "<ms>:<name>"  tool-call start
 *   e "<ms>:<status>"  end
 *   n   model tokens (left out when it equals the number of ms)   p part (left out when 0)
 *   s   "1" on a part's first event     lp logprobs JSON   sg signature   rd redacted thinking
 *   i   tool-call index   id call id    end: f finish reason  u usage JSON  c/m error code/message
 *   tm  timings JSON      np parts (left out when 0)
 * So a token is `t "120: the"`: 2 items, and the same field name in every token entry. Redis
 * stores a stream in nodes of up to 100 entries and writes the field names of an entry only when
 * they differ from the node's first entry's: a token's name is stored once per node, not once per
 * token: 0.84× the memory per stored token of `t:120 " the"` (bench/micro/mem.mjs), at the same
 * Redis CPU per XADD (bench/micro/xadd-shape.mjs). That shape of session 8 is still read, as are
 * the `k <kind> d <text> …` entries of releases before.
 */
const KIND_CODE = { token: 't', reasoning: 'r', refusal: 'x' } as const;

/** A delta's count of model tokens, written only when its ms list does not already say it. */
function tokensField(f: string[], tokens: number, ms: readonly number[]): void {
  if (tokens !== ms.length) f.push('n', String(tokens));
}

function deltaFields(code: string, ev: { text: string; tokens: number; ms: number[]; part?: number; start?: boolean }): string[] {
  const f = [code, `${ev.ms.join(',')}:${ev.text}`];
  tokensField(f, ev.tokens, ev.ms);
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
      return ['c', `${ev.ms}:${ev.name}`, 'id', ev.callId, 'p', String(ev.part), 'i', String(ev.index)];
    case 'tool_args': {
      const f = ['a', `${ev.ms.join(',')}:${ev.args}`, 'p', String(ev.part), 'i', String(ev.index)];
      tokensField(f, ev.tokens, ev.ms);
      return f;
    }
    case 'end': {
      const f = ['e', `${ev.ms}:${ev.status}`, 'f', ev.finishReason, 'u', JSON.stringify(ev.usage)];
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

/** The kinds an entry can open with (eventToFields). */
const OPENING_KINDS = new Set(['t', 'r', 'x', 'a', 'c', 'e']);
/** An ms list: digits and commas. */
const MS_LIST = /^[0-9,]*$/;
/** Session 8's opening field's name: one of OPENING_KINDS, a colon, the ms; the value the payload. */
const OPENING_WITH_MS = new RegExp(`^([${[...OPENING_KINDS].join('')}]):([0-9,]*)$`);

/**
 * Inverse of eventToFields. Also reads the entries of earlier releases, `<kind>:<ms> <payload>`
 * (session 8's) and `k <kind> d <text> n … ms …` (before issue #13): a generation's history
 * outlives an upgrade by its TTL. Returns null for an entry tokencast did not write.
 */
export function fieldsToEvent(offset: number, fields: readonly string[]): StoredEvent | null {
  const name = fields[0];
  if (name === undefined) return null;
  if (name === 'k') return legacyFieldsToEvent(offset, fields);
  let kind: string;
  let rawMs: string;
  let payload: string;
  const value = fields[1] ?? '';
  if (OPENING_KINDS.has(name)) {
    const colon = value.indexOf(':');
    if (colon < 0) return null;
    kind = name;
    rawMs = value.slice(0, colon);
    if (!MS_LIST.test(rawMs)) return null;
    payload = value.slice(colon + 1);
  } else {
    const opening = OPENING_WITH_MS.exec(name);
    if (!opening) return null;
    kind = opening[1] as string;
    rawMs = opening[2] as string;
    payload = value;
  }
  const m = new Map<string, string>();
  for (let i = 2; i + 1 < fields.length; i += 2) m.set(fields[i] as string, fields[i + 1] as string);
  return decode(offset, kind, payload, rawMs, m);
}

/** The entries of releases before issue #13's: `k` names the kind, `d` holds the text. */
function legacyFieldsToEvent(offset: number, fields: readonly string[]): StoredEvent | null {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i] as string, fields[i + 1] as string);
  const kind = m.get('k') ?? '';
  if (!OPENING_KINDS.has(kind)) return null;
  // Legacy deltas always carried n (1 by default); the end kept its status in `s`.
  const payload = kind === 'e' ? (m.get('s') ?? 'failed') : kind === 'c' ? (m.get('nm') ?? '') : (m.get('d') ?? '');
  if (!m.has('n') && (kind === 't' || kind === 'x' || kind === 'a')) m.set('n', '1');
  if (kind === 'r' && !m.has('n')) m.set('n', '0');
  return decode(offset, kind, payload, m.get('ms'), m);
}

function decode(offset: number, kind: string, payload: string, rawMs: string | undefined, m: Map<string, string>): StoredEvent | null {
  switch (kind) {
    case 't': {
      const ms = msList(rawMs);
      const ev: TokenEvent = { offset, kind: 'token', text: payload, tokens: intField(m.get('n'), ms.length), ms, ...partFields(m) };
      const lp = parseJson<TokenLogprob[]>(m.get('lp'));
      if (Array.isArray(lp)) ev.logprobs = lp;
      return ev;
    }
    case 'r': {
      const ms = msList(rawMs);
      const ev: ReasoningEvent = { offset, kind: 'reasoning', text: payload, tokens: intField(m.get('n'), ms.length), ms, ...partFields(m) };
      const sg = m.get('sg');
      if (sg !== undefined) ev.signature = sg;
      const rd = m.get('rd');
      if (rd !== undefined) ev.redacted = rd;
      return ev;
    }
    case 'x': {
      const ms = msList(rawMs);
      return { offset, kind: 'refusal', text: payload, tokens: intField(m.get('n'), ms.length), ms, ...partFields(m) };
    }
    case 'c':
      return { offset, kind: 'tool_call', ...toolPlace(m, true), callId: m.get('id') ?? '', name: payload, ms: Number(rawMs ?? 0) };
    case 'a': {
      const ms = msList(rawMs);
      return { offset, kind: 'tool_args', ...toolPlace(m, false), args: payload, tokens: intField(m.get('n'), ms.length), ms };
    }
    case 'e': {
      const code = m.get('c');
      const ev: EndEvent = {
        offset,
        kind: 'end',
        status: payload as TerminalStatus,
        finishReason: (m.get('f') ?? 'error') as FinishReason,
        usage: parseUsage(m.get('u')),
        error: code === undefined ? null : { code, message: m.get('m') ?? '' },
        ms: Number(rawMs ?? 0),
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
