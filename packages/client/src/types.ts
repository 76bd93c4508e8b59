/**
 * Public types of the SDK. Request bodies are OpenAI's; everything the SDK produces itself
 * (events, stats) is camelCase. Self-contained on purpose: the browser path pulls in no server code.
 */
export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } }
  | { type: 'input_audio'; input_audio: { data: string; format: string } };

/** A tool call as an assistant message carries it back to the model (OpenAI's shape). */
export interface ToolCallParam {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: ChatRole;
  /** null only on an assistant message that just called tools. */
  content: string | ContentPart[] | null;
  name?: string;
  /** Assistant messages: the tool calls of that turn. */
  tool_calls?: ToolCallParam[];
  /** Tool messages: the call this message answers. */
  tool_call_id?: string;
  /** Assistant messages: the turn's reasoning, sent back as it came. */
  reasoning_content?: string;
}

/** A function the model may call; `parameters` is a JSON Schema (absent: no arguments). */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean } };

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
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  response_format?: ResponseFormat;
  reasoning_effort?: 'minimal' | 'low' | 'medium' | 'high';
  logprobs?: boolean;
  top_logprobs?: number;
  metadata?: Record<string, string>;
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
  /** Present only when the model reported cached prompt tokens. */
  prompt_tokens_details?: { cached_tokens: number };
  /** Present only when known; reasoning tokens are part of completion_tokens. */
  completion_tokens_details?: { reasoning_tokens: number };
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
  /** Output events (text, reasoning, tool call, arguments, refusal) delivered by this iterator. */
  tokenEvents: number;
  /** ms from the start of iteration (the submit, for stream(request)) to the first output event; null: none. */
  firstTokenMs: number | null;
  /** ms from the start of iteration to its end. */
  durationMs: number;
}

/** A piece of the answer's text at one offset. One event may carry several model tokens. */
export interface TokenEvent {
  type: 'token';
  offset: number;
  text: string;
}

/**
 * A piece of the model's reasoning (thinking). A signature (Anthropic's signature_delta, or a
 * Responses upstream's encrypted reasoning) comes on its own event, with text ''; send it back
 * with the reasoning when the next turn goes to the same kind of model.
 */
export interface ReasoningEvent {
  type: 'reasoning';
  offset: number;
  text: string;
  /** Absent on ordinary reasoning deltas. */
  signature?: string;
  /** An Anthropic redacted_thinking block's data; absent otherwise. */
  redacted?: string;
}

/** The model starts calling a tool. Its arguments follow as `tool_args` events with the same index. */
export interface ToolCallEvent {
  type: 'tool_call';
  offset: number;
  /** This call's index among the generation's tool calls: 0, 1, … */
  index: number;
  /** The id a tool message answers with (tool_call_id). */
  id: string;
  name: string;
}

/** A piece of a tool call's JSON arguments; the pieces of one index concatenate to the arguments. */
export interface ToolArgsEvent {
  type: 'tool_args';
  offset: number;
  index: number;
  args: string;
}

/** A piece of a refusal (the model declined; OpenAI's delta.refusal). */
export interface RefusalEvent {
  type: 'refusal';
  offset: number;
  text: string;
}

/** Everything a generation outputs, one event per offset. */
export type OutputEvent = TokenEvent | ReasoningEvent | ToolCallEvent | ToolArgsEvent | RefusalEvent;

/** The generation ended normally (finish reason stop, length, …) or was cancelled. */
export interface DoneEvent {
  type: 'done';
  /** Offset of the terminal event. */
  offset: number;
  status: 'completed' | 'cancelled';
  /** `stop`, `length`, `tool_calls`, `cancelled`, …; null only if the edge did not say. */
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

export type StreamEvent = OutputEvent | DoneEvent | ErrorEvent;

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

/** A tool call of a finished (or streaming) answer. */
export interface ToolCall {
  index: number;
  id: string;
  name: string;
  /** The JSON arguments as streamed so far (the whole text once the call is complete). */
  arguments: string;
}

/** A tool call of a finished answer, with its arguments parsed. */
export interface FinishedToolCall extends ToolCall {
  /** JSON.parse(arguments) ('' counts as {}); undefined when they are not valid JSON (an answer cut by max_tokens). */
  input: unknown;
}

/** The assistant's answer, reassembled from the events. */
export interface AssistantMessage {
  /** The answer's text ('' when the model only called tools). */
  text: string;
  /** The reasoning text ('' when the model did not reason, or the upstream does not show it). */
  reasoning: string;
  /** The reasoning's signature; null when none came. */
  reasoningSignature: string | null;
  /** Redacted thinking data, concatenated; null when none came. */
  reasoningRedacted: string | null;
  /** The refusal text; null when the model did not refuse. */
  refusal: string | null;
  toolCalls: FinishedToolCall[];
}

/** What `chat()` resolves with: the reassembled answer plus how it ended. */
export interface ChatResult extends AssistantMessage {
  id: string;
  status: 'completed' | 'cancelled';
  finishReason: string | null;
  usage: Usage | null;
  stats: StreamStats;
}
