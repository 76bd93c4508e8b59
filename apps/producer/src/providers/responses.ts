import { type FinishReason, type GenerationRequest, isObject, type TokenLogprob } from '@tokencast/protocol';
import type { EventSourceMessage } from 'eventsource-parser';
import { UpstreamError } from './errors.js';
import type { ProviderEnd, ProviderEvent } from './provider.js';
import { responsesBody } from './responses-request.js';
import { type ChunkReader, checkedUsage, finite, jsonData, StreamingUpstream, type UpstreamOptions, type UpstreamRequest } from './streaming-upstream.js';

/** `baseUrl` includes the version path, as the OpenAI SDK's baseURL: https://api.openai.com/v1 */
export type ResponsesOptions = UpstreamOptions;

/**
 * An OpenAI Responses API upstream (OpenAI, or an Open Responses server): POST /responses,
 * streamed, stateless. The request is translated by responsesBody; the semantic events
 * (output_text, refusal, reasoning text and summaries, function calls with their argument
 * deltas, encrypted reasoning) become provider events.
 */
export class ResponsesProvider extends StreamingUpstream {
  readonly name = 'responses';

  protected buildRequest(req: GenerationRequest): UpstreamRequest {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    return { path: '/responses', headers, body: responsesBody(req) };
  }

  protected createReader(): ChunkReader {
    return new ResponsesEventReader();
  }
}

const INCOMPLETE: Record<string, FinishReason> = { max_output_tokens: 'length', content_filter: 'content_filter' };

/**
 * Reads response.* events. A function call's upstream index is its output_index. Arguments come
 * from function_call_arguments.delta; a server that sends none gets the whole arguments from
 * .done (or the item) instead, so nothing is lost either way.
 */
class ResponsesEventReader implements ChunkReader {
  private end_: ProviderEnd | null = null;
  private calls = 0;
  /** output_index → whether any argument delta arrived for that function call. */
  private readonly streamed = new Map<number, boolean>();

  read(ev: EventSourceMessage): ProviderEvent[] {
    if (ev.data === '[DONE]') return [];
    const data = jsonData(ev);
    const type = typeof data.type === 'string' ? data.type : ev.event;
    const index = typeof data.output_index === 'number' && Number.isSafeInteger(data.output_index) ? data.output_index : 0;
    const delta = typeof data.delta === 'string' ? data.delta : '';
    switch (type) {
      case 'response.output_text.delta':
        return delta ? [withLogprobs(delta, data.logprobs)] : [];
      case 'response.refusal.delta':
        return delta ? [{ type: 'refusal', text: delta }] : [];
      case 'response.reasoning_text.delta':
      case 'response.reasoning_summary_text.delta':
        return delta ? [{ type: 'reasoning', text: delta, tokens: 1 }] : [];
      case 'response.function_call_arguments.delta':
        if (!delta) return [];
        this.streamed.set(index, true);
        return [{ type: 'tool_args', index, args: delta }];
      case 'response.function_call_arguments.done':
        return this.wholeArguments(index, data.arguments);
      case 'response.output_item.added':
        return this.itemAdded(isObject(data.item) ? data.item : {}, index);
      case 'response.output_item.done': {
        const item = isObject(data.item) ? data.item : {};
        if (item.type === 'function_call') return this.wholeArguments(index, item.arguments);
        if (item.type === 'reasoning' && typeof item.encrypted_content === 'string' && item.encrypted_content) {
          return [{ type: 'reasoning_signature', signature: item.encrypted_content }];
        }
        return [];
      }
      case 'response.completed':
      case 'response.incomplete':
        this.finish(isObject(data.response) ? data.response : {});
        return [];
      case 'response.failed': {
        const r = isObject(data.response) ? data.response : {};
        throw new UpstreamError('model', `the upstream's response failed: ${JSON.stringify(r.error ?? null).slice(0, 500)}`);
      }
      case 'error':
        throw new UpstreamError('model', `the upstream reported an error: ${String(data.code ?? '')} ${String(data.message ?? '').slice(0, 500)}`);
      default:
        return [];
    }
  }

  private itemAdded(item: Record<string, unknown>, index: number): ProviderEvent[] {
    if (item.type !== 'function_call') return [];
    if (typeof item.call_id !== 'string' || typeof item.name !== 'string') throw new UpstreamError('protocol', 'a function_call item without call_id or name');
    this.calls++;
    this.streamed.set(index, false);
    return [{ type: 'tool_call', index, id: item.call_id, name: item.name }];
  }

  /** The whole arguments, once, for a call whose arguments were not streamed as deltas. */
  private wholeArguments(index: number, args: unknown): ProviderEvent[] {
    if (this.streamed.get(index) !== false || typeof args !== 'string' || !args) return [];
    this.streamed.set(index, true);
    return [{ type: 'tool_args', index, args }];
  }

  private finish(r: Record<string, unknown>): void {
    const incomplete = isObject(r.incomplete_details) && typeof r.incomplete_details.reason === 'string' ? r.incomplete_details.reason : null;
    const finishReason: FinishReason = incomplete ? (INCOMPLETE[incomplete] ?? 'length') : this.calls > 0 ? 'tool_calls' : 'stop';
    const u = isObject(r.usage) ? r.usage : {};
    const inDetails = isObject(u.input_tokens_details) ? u.input_tokens_details : {};
    const outDetails = isObject(u.output_tokens_details) ? u.output_tokens_details : {};
    this.end_ = {
      type: 'end',
      finishReason,
      usage: checkedUsage({ prompt: u.input_tokens, completion: u.output_tokens, cached: inDetails.cached_tokens, reasoning: outDetails.reasoning_tokens }),
    };
  }

  end(): ProviderEnd {
    if (!this.end_) throw new UpstreamError('protocol', 'the upstream closed the stream before response.completed');
    return this.end_;
  }
}

/** A text delta with the logprobs the Responses API attaches to it (same entry shape as chat's). */
function withLogprobs(text: string, raw: unknown): ProviderEvent {
  const ev: Extract<ProviderEvent, { type: 'text' }> = { type: 'text', text, tokens: 1 };
  if (!Array.isArray(raw)) return ev;
  const lp: TokenLogprob[] = raw.flatMap((e) =>
    isObject(e) && typeof e.token === 'string' && finite(e.logprob)
      ? [
          {
            token: e.token,
            logprob: e.logprob,
            bytes: Array.isArray(e.bytes) ? (e.bytes as number[]) : null,
            top_logprobs: (Array.isArray(e.top_logprobs) ? e.top_logprobs : []).flatMap((t) =>
              isObject(t) && typeof t.token === 'string' && finite(t.logprob)
                ? [{ token: t.token, logprob: t.logprob, bytes: Array.isArray(t.bytes) ? (t.bytes as number[]) : null }]
                : [],
            ),
          },
        ]
      : [],
  );
  if (lp.length) ev.logprobs = lp;
  return ev;
}
