import type { FinishReason, GenerationRequest, Usage } from '@tokencast/protocol';
import type { EventSourceMessage } from 'eventsource-parser';
import { UpstreamError } from './errors.js';
import type { ProviderEvent } from './provider.js';
import { type ChunkReader, count, jsonData, StreamingUpstream, type UpstreamOptions, type UpstreamRequest } from './streaming-upstream.js';

export interface AnthropicOptions extends UpstreamOptions {
  /** max_tokens sent when the request has none (Anthropic requires one). */
  defaultMaxTokens: number;
}

const STOP: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
};

/**
 * An Anthropic Messages upstream. `baseUrl` is without the version path, e.g.
 * https://api.anthropic.com. Usage: input tokens from message_start, output tokens from
 * message_delta — both kept even when the stream ends early.
 */
export class AnthropicProvider extends StreamingUpstream {
  readonly name = 'anthropic';

  constructor(private readonly anthropic: AnthropicOptions) {
    super(anthropic);
  }

  protected buildRequest(req: GenerationRequest): UpstreamRequest {
    const system = req.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => m.content);
    const turns =
      req.kind === 'completion'
        ? [{ role: 'user', content: req.prompt }]
        : req.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => ({ role: m.role, content: m.content }));
    const body: Record<string, unknown> = { model: req.model, max_tokens: req.maxTokens ?? this.anthropic.defaultMaxTokens, messages: turns, stream: true };
    if (system.length) body.system = system.join('\n');
    if (typeof req.params.temperature === 'number') body.temperature = req.params.temperature;
    if (typeof req.params.top_p === 'number') body.top_p = req.params.top_p;
    if (req.params.stop !== undefined) body.stop_sequences = Array.isArray(req.params.stop) ? req.params.stop : [req.params.stop];
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream', 'anthropic-version': '2023-06-01' };
    if (this.opts.apiKey) headers['x-api-key'] = this.opts.apiKey;
    return { path: '/v1/messages', headers, body };
  }

  protected createReader(): ChunkReader {
    return new MessagesEventReader();
  }
}

/** Reads message_start / content_block_* / message_delta / message_stop / ping / error events. */
class MessagesEventReader implements ChunkReader {
  private finishReason: FinishReason | null = null;
  private readonly usage: Partial<Usage> = {};
  private stopped = false;

  read(ev: EventSourceMessage): ProviderEvent[] {
    const data = jsonData(ev);
    const type = ev.event ?? (typeof data.type === 'string' ? data.type : undefined);
    if (type === 'content_block_delta') {
      const d = data.delta as { type?: unknown; text?: unknown } | undefined;
      if (d?.type === 'text_delta' && typeof d.text === 'string' && d.text) return [{ type: 'text', text: d.text, tokens: 1 }];
    } else if (type === 'message_start') {
      const u = (data.message as { usage?: Record<string, unknown> } | undefined)?.usage;
      const input = count(u?.input_tokens);
      if (input !== undefined) this.usage.prompt_tokens = input;
    } else if (type === 'message_delta') {
      const d = data.delta as { stop_reason?: unknown } | undefined;
      if (typeof d?.stop_reason === 'string') this.finishReason = STOP[d.stop_reason] ?? 'stop';
      const output = count((data.usage as Record<string, unknown> | undefined)?.output_tokens);
      if (output !== undefined) this.usage.completion_tokens = output;
    } else if (type === 'message_stop') {
      this.stopped = true;
    } else if (type === 'error') {
      const e = data.error as { type?: unknown; message?: unknown } | undefined;
      throw new UpstreamError('model', `the upstream reported an error: ${String(e?.type ?? '')} ${String(e?.message ?? 'unknown').slice(0, 500)}`);
    }
    // ping, content_block_start/stop: nothing to do
    return [];
  }

  end(): Extract<ProviderEvent, { type: 'end' }> {
    if (!this.stopped && this.finishReason === null) throw new UpstreamError('protocol', 'the upstream closed the stream before message_stop');
    return { type: 'end', finishReason: this.finishReason ?? 'stop', usage: this.usage };
  }
}
