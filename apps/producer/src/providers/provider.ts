import type { FinishReason, GenerationRequest, TokenLogprob, Usage } from '@tokencast/protocol';

/**
 * What a model hands the producer, in order: output deltas, then exactly one end. The writer
 * turns them into stored events and numbers the output parts (docs/PROTOCOL.md, "Stored events").
 */
export type ProviderEvent =
  /** A text delta; `tokens`: model tokens in this piece, usually 1. */
  | { type: 'text'; text: string; tokens: number; logprobs?: TokenLogprob[] }
  | { type: 'reasoning'; text: string; tokens: number }
  /** Anthropic's signature_delta, or a Responses upstream's encrypted reasoning content. */
  | { type: 'reasoning_signature'; signature: string }
  /** A whole Anthropic redacted_thinking block: encrypted reasoning, passed on as its own reasoning part. */
  | { type: 'reasoning_redacted'; data: string }
  /** A tool call starts; `index` is the upstream's own (OpenAI delta.tool_calls[].index, or Anthropic's block order). */
  | { type: 'tool_call'; index: number; id: string; name: string }
  /** A piece of the JSON arguments of the tool call with this upstream index. */
  | { type: 'tool_args'; index: number; args: string }
  | { type: 'refusal'; text: string }
  /** `usage` null (or fields missing) when the upstream gave none: the producer counts. */
  | { type: 'end'; finishReason: FinishReason; usage: Partial<Usage> | null };

/** A provider's end event: what a chunk reader's end() gives (not protocol's stored EndEvent). */
export type ProviderEnd = Extract<ProviderEvent, { type: 'end' }>;

export interface GenerateContext {
  signal: AbortSignal;
  /**
   * Where to start when a reclaimed generation continues: the model tokens (of every kind) and
   * the text already published. 0 and '' for a fresh generation.
   */
  resumeTokens: number;
  resumeText: string;
  /**
   * Events without tokens already published (tool-call starts, reasoning signatures): with
   * resumeTokens they locate the exact place to continue from in a deterministic event sequence
   * where every other event carries one token. Absent or 0 for a fresh generation.
   */
  resumeMarkers?: number;
}

export interface Provider {
  readonly name: string;
  /** True when generate() can continue from the resume position and produce the same output. */
  readonly canResume: boolean;
  /** Yields events until the end; throws UpstreamError on failure; stops when signal aborts. */
  generate(req: GenerationRequest, ctx: GenerateContext): AsyncIterable<ProviderEvent>;
  /** Releases connections (upstream HTTP agents); the provider is not used afterwards. */
  close(): Promise<void>;
}
