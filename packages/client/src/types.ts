/**
 * Public types of the SDK. Request bodies are OpenAI's; everything the SDK produces itself
 * (events, stats) is camelCase. Self-contained on purpose: the browser path pulls in no server code.
 */
export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole;
  content: string;
  name?: string;
}

/** Sampling parameters the edge passes to the model as given. */
export interface SamplingParams {
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  stop?: string | string[];
  user?: string;
}

export interface ChatRequest extends SamplingParams {
  model: string;
  messages: ChatMessage[];
}

export interface CompletionRequest extends SamplingParams {
  model: string;
  prompt: string;
}

export type GenerationRequest = ChatRequest | CompletionRequest;

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type GenerationStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** What `submit()` returns. */
export interface Submitted {
  id: string;
  status: GenerationStatus;
  model: string;
  /** Path of the generation's SSE stream, relative to the base URL. */
  eventsUrl: string;
  /** Token that lets anyone watch this one generation; absent when the edge issues none. */
  readToken?: string;
}

/** GET /v1/generations/:id, as the edge sends it. Times are epoch ms; null until they happen. */
export interface Generation {
  id: string;
  object: 'generation';
  status: GenerationStatus;
  kind: 'chat' | 'completion';
  model: string;
  created_at: number;
  started_at: number | null;
  first_token_at: number | null;
  completed_at: number | null;
  producer: string | null;
  /** Offset of the newest event; 0 while nothing was written. */
  last_offset: number;
  tokens: number;
  finish_reason: string | null;
  usage: Usage | null;
  error: { code: string; message: string } | null;
  timings: {
    ttft_ms: number | null;
    queue_ms: number | null;
    total_ms: number | null;
    itl_mean_ms: number | null;
    itl_p95_ms: number | null;
    tokens_per_second: number | null;
  };
  events_url: string;
}

export interface Model {
  id: string;
  object: 'model';
  owned_by: string;
}

export interface CancelResult {
  id: string;
  /** `cancelling` when the request reached a live generation; its final status otherwise. */
  status: string;
  cancel_requested: boolean;
}

/** What this client saw of one stream, across every reconnect. */
export interface StreamStats {
  /** Connections that were replaced by a new one (0: the first one lasted). */
  reconnects: number;
  /** Token events delivered by this iterator. */
  tokenEvents: number;
  /** ms from the start of iteration (the submit, for stream(request)) to the first token event; null: none. */
  firstTokenMs: number | null;
  /** ms from the start of iteration to its end. */
  durationMs: number;
}

/** A piece of text at one offset. One event may carry several model tokens. */
export interface TokenEvent {
  type: 'token';
  offset: number;
  text: string;
}

/** The generation ended normally (finish reason stop, length, …) or was cancelled. */
export interface DoneEvent {
  type: 'done';
  /** Offset of the terminal event. */
  offset: number;
  status: 'completed' | 'cancelled';
  /** `stop`, `length`, `cancelled`, …; null only if the edge did not say. */
  finishReason: string | null;
  /** null when the edge did not send usage. */
  usage: Usage | null;
  stats: StreamStats;
}

/** The generation failed, or its events are gone from the store. Nothing follows. */
export interface ErrorEvent {
  type: 'error';
  /** Offset of the terminal event; null when the error is about the stream, not the generation (offset_gone, generation_lost). */
  offset: number | null;
  code: string;
  message: string;
  stats: StreamStats;
}

export type StreamEvent = TokenEvent | DoneEvent | ErrorEvent;

/**
 * How a stream reconnects. Delays grow as initialDelayMs × 2^(n-1), capped at maxDelayMs, with
 * full jitter (a random delay between 0 and that), so many viewers of one failed edge do not all
 * come back in the same millisecond. A `retry:` hint or Retry-After from the server replaces the
 * computed delay.
 */
export interface RetryPolicy {
  /** Consecutive attempts that deliver nothing new before giving up; 0 = never reconnect. Any progress resets the count. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface StreamOptions {
  /** Deliver events after this offset (0, the default: from the start). */
  from?: number;
  signal?: AbortSignal;
  /** Read token for this generation; defaults to the one submit() returned for it, if any. */
  readToken?: string;
  retry?: Partial<RetryPolicy>;
  /** Called before each reconnect, after the delay is chosen. */
  onReconnect?: (info: ReconnectInfo) => void;
}

export interface ReconnectInfo {
  /** 1 for the first retry since the last progress. */
  attempt: number;
  delayMs: number;
  /** Offset the next connection resumes after. */
  offset: number;
  /** Why the previous connection ended. */
  reason: unknown;
}

/** What `chat()` resolves with. */
export interface ChatResult {
  id: string;
  text: string;
  status: 'completed' | 'cancelled';
  finishReason: string | null;
  usage: Usage | null;
  stats: StreamStats;
}
