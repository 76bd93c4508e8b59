import type { FinishReason, GenerationRequest } from '@tokencast/protocol';
import type { EventSourceMessage } from 'eventsource-parser';
import { UpstreamError } from './errors.js';
import type { ProviderEvent } from './provider.js';
import { type ChunkReader, checkedUsage, jsonData, StreamingUpstream, type UpstreamOptions, type UpstreamRequest, upstreamMessage } from './streaming-upstream.js';

/** `baseUrl` includes the version path, as the OpenAI SDK's baseURL: http://host:8000/v1 */
export type OpenAICompatibleOptions = UpstreamOptions;

/**
 * Any OpenAI-compatible server (llama.cpp server, vLLM, Ollama, OpenAI): chat and legacy
 * completions, streamed. Usage comes from the upstream when it sends it
 * (stream_options.include_usage); otherwise the producer counts the tokens itself.
 */
export class OpenAICompatibleProvider extends StreamingUpstream {
  readonly name = 'openai-compatible';

  protected buildRequest(req: GenerationRequest): UpstreamRequest {
    const body: Record<string, unknown> = { ...req.params, model: req.model, stream: true, stream_options: { include_usage: true } };
    if (req.kind === 'chat') body.messages = req.messages;
    else body.prompt = req.prompt;
    if (req.maxTokens !== null) body.max_tokens = req.maxTokens;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    return { path: req.kind === 'chat' ? '/chat/completions' : '/completions', headers, body };
  }

  protected createReader(): ChunkReader {
    return new ChatChunkReader();
  }
}

const FINISH = new Set<FinishReason>(['stop', 'length', 'content_filter', 'tool_calls']);

/** Reads chat.completion.chunk (and text_completion) events up to `data: [DONE]`. */
class ChatChunkReader implements ChunkReader {
  private finishReason: FinishReason | null = null;
  private usage: Extract<ProviderEvent, { type: 'end' }>['usage'] = null;
  private done = false;

  read(ev: EventSourceMessage): ProviderEvent[] {
    if (ev.data === '[DONE]') {
      this.done = true;
      return [];
    }
    const json = jsonData(ev);
    if (json.error !== undefined) throw new UpstreamError('model', `the upstream reported an error: ${upstreamMessage(ev.data)}`);
    if (json.usage && typeof json.usage === 'object') {
      const u = json.usage as Record<string, unknown>;
      this.usage = checkedUsage(u.prompt_tokens, u.completion_tokens) ?? this.usage;
    }
    const choice = Array.isArray(json.choices) ? (json.choices[0] as Record<string, unknown> | undefined) : undefined;
    if (!choice) return [];
    const fr = choice.finish_reason;
    if (typeof fr === 'string' && FINISH.has(fr as FinishReason)) this.finishReason = fr as FinishReason;
    const delta = choice.delta as Record<string, unknown> | undefined;
    const text = typeof delta?.content === 'string' ? delta.content : typeof choice.text === 'string' ? choice.text : '';
    return text ? [{ type: 'text', text, tokens: 1 }] : [];
  }

  end(): Extract<ProviderEvent, { type: 'end' }> {
    // A body that ends with neither [DONE] nor a finish reason was cut short, not finished.
    if (!this.done && this.finishReason === null) throw new UpstreamError('protocol', 'the upstream closed the stream before it finished');
    return { type: 'end', finishReason: this.finishReason ?? 'stop', usage: this.usage };
  }
}
