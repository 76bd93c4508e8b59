import { type FinishReason, type GenerationRequest, isObject } from '@tokencast/protocol';
import type { EventSourceMessage } from 'eventsource-parser';
import { anthropicBody } from './anthropic-request.js';
import { UpstreamError } from './errors.js';
import type { ProviderEnd, ProviderEvent } from './provider.js';
import { type ChunkReader, checkedUsage, jsonData, StreamingUpstream, type UpstreamOptions, type UpstreamRequest } from './streaming-upstream.js';

export interface AnthropicOptions extends UpstreamOptions {
  /** max_tokens sent when the request has none (Anthropic requires one). */
  defaultMaxTokens: number;
}

const STOP: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/**
 * An Anthropic Messages upstream. `baseUrl` is without the version path, e.g.
 * https://api.anthropic.com. The request is translated by anthropicBody (what cannot be carried
 * fails with unsupported_by_upstream before anything is sent); the stream's text, thinking
 * (with its signature) and tool_use blocks become provider events.
 */
export class AnthropicProvider extends StreamingUpstream {
  readonly name = 'anthropic';

  constructor(private readonly anthropic: AnthropicOptions) {
    super(anthropic);
  }

  protected buildRequest(req: GenerationRequest): UpstreamRequest {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream', 'anthropic-version': '2023-06-01' };
    if (this.opts.apiKey) headers['x-api-key'] = this.opts.apiKey;
    return { path: '/v1/messages', headers, body: anthropicBody(req, this.anthropic.defaultMaxTokens) };
  }

  protected createReader(): ChunkReader {
    return new MessagesEventReader();
  }
}

/**
 * Reads message_start / content_block_start / content_block_delta / content_block_stop /
 * message_delta / message_stop / ping / error. A tool_use block's index (its place among the
 * message's blocks) is the tool call's upstream index. Usage: input tokens (plus cache reads and
 * writes, which Anthropic counts apart) from message_start, output tokens from message_delta;
 * cache reads are the cached-tokens detail.
 */
class MessagesEventReader implements ChunkReader {
  private finishReason: FinishReason | null = null;
  private stopped = false;
  private input: unknown;
  private cacheRead: unknown;
  private cacheWrite: unknown;
  private output: unknown;

  read(ev: EventSourceMessage): ProviderEvent[] {
    const data = jsonData(ev);
    const type = ev.event ?? (typeof data.type === 'string' ? data.type : undefined);
    const index = typeof data.index === 'number' && Number.isSafeInteger(data.index) && data.index >= 0 ? data.index : 0;
    if (type === 'content_block_delta') {
      const d = isObject(data.delta) ? data.delta : {};
      if (d.type === 'text_delta' && typeof d.text === 'string' && d.text) return [{ type: 'text', text: d.text, tokens: 1 }];
      if (d.type === 'thinking_delta' && typeof d.thinking === 'string' && d.thinking) return [{ type: 'reasoning', text: d.thinking, tokens: 1 }];
      if (d.type === 'signature_delta' && typeof d.signature === 'string' && d.signature) return [{ type: 'reasoning_signature', signature: d.signature }];
      if (d.type === 'input_json_delta' && typeof d.partial_json === 'string' && d.partial_json) return [{ type: 'tool_args', index, args: d.partial_json }];
      // citations_delta: not carried by the stored log.
    } else if (type === 'content_block_start') {
      return this.blockStart(isObject(data.content_block) ? data.content_block : {}, index);
    } else if (type === 'message_start') {
      const u = isObject(data.message) && isObject(data.message.usage) ? data.message.usage : {};
      this.usageFrom(u);
    } else if (type === 'message_delta') {
      const d = isObject(data.delta) ? data.delta : {};
      if (typeof d.stop_reason === 'string') this.finishReason = STOP[d.stop_reason] ?? 'stop';
      if (isObject(data.usage)) this.usageFrom(data.usage);
    } else if (type === 'message_stop') {
      this.stopped = true;
    } else if (type === 'error') {
      const e = isObject(data.error) ? data.error : {};
      throw new UpstreamError('model', `the upstream reported an error: ${String(e.type ?? '')} ${String(e.message ?? 'unknown').slice(0, 500)}`);
    }
    // ping, content_block_stop: nothing to do
    return [];
  }

  /** A block's start: a tool call starts here; text and thinking blocks may carry initial content. */
  private blockStart(block: Record<string, unknown>, index: number): ProviderEvent[] {
    if (block.type === 'tool_use') {
      if (typeof block.id !== 'string' || typeof block.name !== 'string') throw new UpstreamError('protocol', 'a tool_use block without id or name');
      const out: ProviderEvent[] = [{ type: 'tool_call', index, id: block.id, name: block.name }];
      // Streamed input arrives as input_json_delta; an input given whole at the start is passed as one piece.
      if (isObject(block.input) && Object.keys(block.input).length > 0) out.push({ type: 'tool_args', index, args: JSON.stringify(block.input) });
      return out;
    }
    if (block.type === 'text' && typeof block.text === 'string' && block.text) return [{ type: 'text', text: block.text, tokens: 1 }];
    if (block.type === 'redacted_thinking' && typeof block.data === 'string') return [{ type: 'reasoning_redacted', data: block.data }];
    if (block.type === 'thinking') {
      const out: ProviderEvent[] = [];
      if (typeof block.thinking === 'string' && block.thinking) out.push({ type: 'reasoning', text: block.thinking, tokens: 1 });
      if (typeof block.signature === 'string' && block.signature) out.push({ type: 'reasoning_signature', signature: block.signature });
      return out;
    }
    return [];
  }

  /** message_start and message_delta both carry usage; later counts replace earlier ones. */
  private usageFrom(u: Record<string, unknown>): void {
    if (u.input_tokens !== undefined) this.input = u.input_tokens;
    if (u.cache_read_input_tokens !== undefined) this.cacheRead = u.cache_read_input_tokens;
    if (u.cache_creation_input_tokens !== undefined) this.cacheWrite = u.cache_creation_input_tokens;
    if (u.output_tokens !== undefined) this.output = u.output_tokens;
  }

  end(): ProviderEnd {
    if (!this.stopped && this.finishReason === null) throw new UpstreamError('protocol', 'the upstream closed the stream before message_stop');
    return { type: 'end', finishReason: this.finishReason ?? 'stop', usage: this.usage() };
  }

  /** OpenAI counts cached prompt tokens inside prompt_tokens; Anthropic reports them apart. */
  private usage(): ProviderEnd['usage'] {
    const parts = [this.input, this.cacheRead ?? 0, this.cacheWrite ?? 0];
    const valid = parts.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0);
    const prompt = valid ? (parts as number[]).reduce((a, b) => a + b, 0) : undefined;
    return checkedUsage({ prompt, completion: this.output, cached: this.cacheRead, cacheWrite: this.cacheWrite });
  }
}
