import type { FinishReason, GenerationRequest, Usage } from '@tokencast/protocol';

/** What a model hands the producer, in order: tokens, then exactly one end. */
export type ProviderEvent =
  | { type: 'token'; text: string /** model tokens in this piece, usually 1 */; tokens: number }
  | { type: 'end'; finishReason: FinishReason /** null when the upstream gave none: the producer counts */; usage: Partial<Usage> | null };

export interface GenerateContext {
  signal: AbortSignal;
  /**
   * Where to start when a reclaimed generation continues: the model tokens and text already
   * published. 0 and '' for a fresh generation.
   */
  resumeTokens: number;
  resumeText: string;
}

export interface Provider {
  readonly name: string;
  /** True when generate() can continue from resumeTokens/resumeText and produce the same text. */
  readonly canResume: boolean;
  /** Yields tokens until the end; throws UpstreamError on failure; stops when signal aborts. */
  generate(req: GenerationRequest, ctx: GenerateContext): AsyncIterable<ProviderEvent>;
}
