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
  /**
   * Present only when the upstream reported it (OpenAI's name). cached_tokens: prompt tokens read
   * from the upstream's cache; cache_write_tokens: prompt tokens written to it (Anthropic's
   * cache_creation_input_tokens; absent when not reported). Both are part of prompt_tokens.
   */
  prompt_tokens_details?: { cached_tokens: number; cache_write_tokens?: number };
  /** Present only when known: reasoning tokens are part of completion_tokens. */
  completion_tokens_details?: { reasoning_tokens: number };
}

/** One sampled token's log probability, in OpenAI's shape (choices[].logprobs.content[]). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  /** UTF-8 bytes of the token; null when the upstream gave none. */
  bytes: number[] | null;
  /** The most likely alternatives at this position; empty unless top_logprobs was asked for. */
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}

/**
 * Fields every delta event shares. Events describe an ordered list of output parts (one text
 * block, one reasoning block, one tool call or one refusal each), numbered 0, 1, 2 … in order of
 * first appearance. `part` and `start` are left out when they are 0 and false: that is how the
 * codec stores them, and a plain-text generation's events look exactly as before typed parts.
 */
interface DeltaBase {
  offset: number;
  /** Output part this delta belongs to; absent means 0. */
  part?: number;
  /**
   * True on the first event of its part; absent means false, except at offset 1, which always
   * opens its part and is stored without the flag (read it with startsPart()).
   */
  start?: boolean;
  /** Model tokens in this event (≥ 1 for text; 0 for a reasoning signature). */
  tokens: number;
  /** Per model token: ms since the job was accepted (queued), one entry per token. */
  ms: number[];
}

/** A text delta (several model tokens when the producer coalesced them). */
export interface TokenEvent extends DeltaBase {
  kind: 'token';
  text: string;
  /** One entry per token when the request asked for logprobs and the upstream gave them. */
  logprobs?: TokenLogprob[];
}

/**
 * A reasoning (thinking) delta. The signature (Anthropic's signature_delta, or a Responses
 * upstream's encrypted reasoning) arrives on its own event with text ''. `redacted` holds an
 * Anthropic redacted_thinking block's data.
 */
export interface ReasoningEvent extends DeltaBase {
  kind: 'reasoning';
  text: string;
  signature?: string;
  redacted?: string;
}

/** The start of a tool call: its own part, never merged with its arguments. */
export interface ToolCallEvent {
  offset: number;
  kind: 'tool_call';
  part: number;
  start: true;
  /** Index of this call among the generation's tool calls, 0, 1, … */
  index: number;
  /** The call id the caller answers with (tool_call_id / tool_use_id). */
  callId: string;
  name: string;
  /** ms since the job was accepted. */
  ms: number;
}

/** A piece of a tool call's JSON arguments; the pieces of one call concatenate to its arguments. */
export interface ToolArgsEvent {
  offset: number;
  kind: 'tool_args';
  part: number;
  start: false;
  /** The tool call's index (as in its ToolCallEvent). */
  index: number;
  args: string;
  tokens: number;
  /** Per model token: ms since accepted. */
  ms: number[];
}

/** A refusal delta (OpenAI's delta.refusal). */
export interface RefusalEvent extends DeltaBase {
  kind: 'refusal';
  text: string;
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
  /** Output parts written before the end; absent means 0 (stored only when > 0). */
  parts?: number;
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

export type StoredEvent = TokenEvent | ReasoningEvent | ToolCallEvent | ToolArgsEvent | RefusalEvent | EndEvent;
/** The events that carry output (everything but the end). */
export type DeltaEvent = Exclude<StoredEvent, EndEvent>;

/** Omit distributed over a union, so each member keeps its own fields. */
type OmitOffset<T> = T extends unknown ? Omit<T, 'offset'> : never;
/** An event as the producer hands it to the store: the store's append names its offset. */
export type NewStoredEvent = OmitOffset<StoredEvent>;

export function isTerminalStatus(s: GenerationStatus): s is TerminalStatus {
  return s === 'completed' || s === 'failed' || s === 'cancelled';
}

/** Model tokens an event carries: 0 for a tool call's start and for the end. */
export function eventTokens(ev: NewStoredEvent): number {
  return ev.kind === 'end' || ev.kind === 'tool_call' ? 0 : ev.tokens;
}

/** The output part of a delta event (0 when the event leaves it out). */
export function eventPart(ev: OmitOffset<DeltaEvent>): number {
  return ev.part ?? 0;
}

/**
 * True when the event opens its part. The first event of a stream always does: events stored
 * before typed parts had no start flag, and their offset 1 was the first text token.
 */
export function startsPart(ev: DeltaEvent): boolean {
  return ev.start === true || ev.offset === 1;
}

export function emptyUsage(): Usage {
  return { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
}

function detail(v: unknown, key: string): number | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const n = (v as Record<string, unknown>)[key];
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** Usage as stored (or as an upstream reported it): the details objects only when they are well-formed. */
export function normalizeUsage(u: Partial<Record<keyof Usage, unknown>> | null | undefined): Usage {
  if (!u) return emptyUsage();
  const p = Number(u.prompt_tokens ?? 0) || 0;
  const c = Number(u.completion_tokens ?? 0) || 0;
  const out: Usage = { prompt_tokens: p, completion_tokens: c, total_tokens: Number(u.total_tokens ?? p + c) || p + c };
  const cached = detail(u.prompt_tokens_details, 'cached_tokens');
  const written = detail(u.prompt_tokens_details, 'cache_write_tokens');
  if (cached !== undefined) out.prompt_tokens_details = written === undefined ? { cached_tokens: cached } : { cached_tokens: cached, cache_write_tokens: written };
  const reasoning = detail(u.completion_tokens_details, 'reasoning_tokens');
  if (reasoning !== undefined) out.completion_tokens_details = { reasoning_tokens: reasoning };
  return out;
}
