import { randomBytes } from 'node:crypto';
import { type ChatMessage, type ContentPart, type FinishReason, type GenerationRequest, isObject, type TokenLogprob } from '@tokencast/protocol';
import type { EventSourceMessage } from 'eventsource-parser';
import { UpstreamError } from './errors.js';
import type { ProviderEnd, ProviderEvent } from './provider.js';
import { type ChunkReader, checkedUsage, finite, jsonData, StreamingUpstream, type UpstreamOptions, type UpstreamRequest, upstreamMessage } from './streaming-upstream.js';

/** `baseUrl` includes the version path, as the OpenAI SDK's baseURL: http://host:8000/v1 */
export type OpenAICompatibleOptions = UpstreamOptions;

/**
 * Any OpenAI-compatible server (llama.cpp server, vLLM, Ollama, OpenAI): chat and legacy
 * completions, streamed. The normalised request is already OpenAI's chat shape, so everything in
 * it is sent as is: tools, tool_choice, parallel_tool_calls, response_format, reasoning_effort,
 * logprobs, metadata, image and audio parts, assistant tool_calls and tool messages. Three things
 * of the normal form have no Chat Completions field and are not sent: the reasoning of earlier
 * assistant turns (servers reject or ignore it), `reasoning.summary` (a Responses-API option) and
 * Anthropic `cache_control` breakpoints (see chatMessage).
 * Usage comes from the upstream (stream_options.include_usage) when it sends valid counts.
 */
export class OpenAICompatibleProvider extends StreamingUpstream {
  readonly name = 'openai-compatible';

  protected buildRequest(req: GenerationRequest): UpstreamRequest {
    const body: Record<string, unknown> = { ...req.params, model: req.model, stream: true, stream_options: { include_usage: true } };
    if (req.maxTokens !== null) body.max_tokens = req.maxTokens;
    if (req.kind === 'chat') {
      body.messages = req.messages.map(chatMessage);
      if (req.tools?.length) body.tools = req.tools.map(({ cache_control: _, ...t }) => t);
      if (req.toolChoice !== undefined) body.tool_choice = req.toolChoice;
      if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;
      if (req.responseFormat) body.response_format = req.responseFormat;
      if (req.logprobs) body.logprobs = true;
      if (req.topLogprobs !== undefined) body.top_logprobs = req.topLogprobs;
    } else {
      body.prompt = req.prompt;
      // Legacy completions take logprobs as the number of alternatives per position.
      if (req.logprobs) body.logprobs = req.topLogprobs ?? 0;
    }
    const effort = reasoningEffort(req);
    if (effort) body.reasoning_effort = effort;
    if (req.metadata && Object.keys(req.metadata).length > 0) body.metadata = req.metadata;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    return { path: req.kind === 'chat' ? '/chat/completions' : '/completions', headers, body };
  }

  protected createReader(): ChunkReader {
    return new ChatChunkReader();
  }
}

/**
 * One message as Chat Completions takes it (the normal form minus what it has no field for).
 * Anthropic `cache_control` markers (on parts, tool calls and tool results of a /v1/messages
 * request) are left out: a billing hint with no Chat Completions field, where servers cache
 * prefixes by themselves and OpenAI refuses unknown fields; dropping it changes no output. What
 * each upstream reads is listed in docs/PROTOCOL.md.
 */
function chatMessage(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: withoutCacheControl(m.content) };
  if (m.name !== undefined) out.name = m.name;
  if (m.tool_calls?.length) {
    out.tool_calls = m.tool_calls.map(({ cache_control: _, ...c }) => c);
    // An assistant turn that only called tools has null content in OpenAI's own transcripts.
    if (m.content === '') out.content = null;
  }
  if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
  return out;
}

/** Content without cache_control markers; text-only parts joined into a string again, as they were sent before markers were kept. */
function withoutCacheControl(content: string | ContentPart[]): string | ContentPart[] {
  if (typeof content === 'string' || !content.some((p) => p.type !== 'input_audio' && p.cache_control !== undefined)) return content;
  const parts = content.map((p): ContentPart => {
    if (p.type === 'input_audio' || p.cache_control === undefined) return p;
    const { cache_control: _, ...rest } = p;
    return rest;
  });
  return parts.every((p) => p.type === 'text') ? parts.map((p) => (p as { text: string }).text).join('') : parts;
}

/**
 * reasoning_effort from the normal form. A thinking budget without an effort (an Anthropic
 * caller's `thinking.budget_tokens`) becomes the nearest effort: ≤ 2048 low, ≤ 8192 medium, else high.
 */
function reasoningEffort(req: GenerationRequest): string | null {
  const r = req.reasoning;
  if (!r) return null;
  if (r.effort) return r.effort;
  if (r.budgetTokens === undefined) return null;
  return r.budgetTokens <= 2048 ? 'low' : r.budgetTokens <= 8192 ? 'medium' : 'high';
}

const FINISH: Record<string, FinishReason> = {
  stop: 'stop',
  length: 'length',
  content_filter: 'content_filter',
  tool_calls: 'tool_calls',
  // The pre-tools name of the same thing.
  function_call: 'tool_calls',
};

interface ToolCallState {
  started: boolean;
  id: string;
  name: string;
  /** Arguments that arrived before the call's name (held until it can start). */
  held: string;
}

/**
 * Reads chat.completion.chunk (and text_completion) events up to `data: [DONE]`: content,
 * reasoning (`reasoning_content` as vLLM, DeepSeek and llama.cpp send it, or `reasoning`), refusal,
 * tool-call pieces, logprobs, finish_reason and usage with its details.
 */
class ChatChunkReader implements ChunkReader {
  private finishReason: FinishReason | null = null;
  private usage: ProviderEnd['usage'] = null;
  private done = false;
  private readonly calls = new Map<number, ToolCallState>();

  read(ev: EventSourceMessage): ProviderEvent[] {
    if (ev.data === '[DONE]') {
      this.done = true;
      return [];
    }
    const json = jsonData(ev);
    if (json.error !== undefined && json.error !== null) throw new UpstreamError('model', `the upstream reported an error: ${upstreamMessage(ev.data)}`);
    if (isObject(json.usage)) {
      const u = json.usage;
      const prompt = isObject(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
      const completion = isObject(u.completion_tokens_details) ? u.completion_tokens_details : {};
      this.usage = checkedUsage({ prompt: u.prompt_tokens, completion: u.completion_tokens, cached: prompt.cached_tokens, reasoning: completion.reasoning_tokens }) ?? this.usage;
    }
    const choice = Array.isArray(json.choices) ? json.choices[0] : undefined;
    if (!isObject(choice)) return [];
    const fr = choice.finish_reason;
    if (typeof fr === 'string' && FINISH[fr]) this.finishReason = FINISH[fr];
    const out: ProviderEvent[] = [];
    const delta = isObject(choice.delta) ? choice.delta : null;
    if (delta === null) {
      // A legacy completion chunk.
      if (typeof choice.text === 'string' && choice.text) out.push(withLogprobs({ type: 'text', text: choice.text, tokens: 1 }, legacyLogprobs(choice.logprobs)));
      return out;
    }
    const reasoning = typeof delta.reasoning_content === 'string' ? delta.reasoning_content : typeof delta.reasoning === 'string' ? delta.reasoning : '';
    if (reasoning) out.push({ type: 'reasoning', text: reasoning, tokens: 1 });
    if (typeof delta.content === 'string' && delta.content) {
      out.push(withLogprobs({ type: 'text', text: delta.content, tokens: 1 }, chatLogprobs(choice.logprobs)));
    }
    if (typeof delta.refusal === 'string' && delta.refusal) out.push({ type: 'refusal', text: delta.refusal });
    if (Array.isArray(delta.tool_calls)) {
      for (const [i, tc] of delta.tool_calls.entries()) this.toolCall(tc, i, out);
    }
    return out;
  }

  /** One entry of delta.tool_calls: starts the call once its name is known, then its argument pieces. */
  private toolCall(tc: unknown, position: number, out: ProviderEvent[]): void {
    if (!isObject(tc)) return;
    const fn = isObject(tc.function) ? tc.function : {};
    // Servers that leave out `index` send each call whole, in order: its position stands in.
    const index = typeof tc.index === 'number' && Number.isSafeInteger(tc.index) && tc.index >= 0 ? tc.index : this.indexWithoutOne(tc, position);
    let st = this.calls.get(index);
    if (!st) {
      st = { started: false, id: '', name: '', held: '' };
      this.calls.set(index, st);
    }
    if (typeof tc.id === 'string' && tc.id && !st.id) st.id = tc.id;
    if (typeof fn.name === 'string' && fn.name && !st.name) st.name = fn.name;
    // Some servers send the arguments as an object rather than a JSON string.
    const args = typeof fn.arguments === 'string' ? fn.arguments : isObject(fn.arguments) ? JSON.stringify(fn.arguments) : '';
    if (!st.started) {
      st.held += args;
      if (!st.name) return;
      st.started = true;
      out.push({ type: 'tool_call', index, id: st.id || `call_${randomBytes(12).toString('hex')}`, name: st.name });
      if (st.held) out.push({ type: 'tool_args', index, args: st.held });
      st.held = '';
    } else if (args) {
      out.push({ type: 'tool_args', index, args });
    }
  }

  /** Index for a call without one: a new id is a new call; otherwise the position in this chunk. */
  private indexWithoutOne(tc: Record<string, unknown>, position: number): number {
    if (typeof tc.id === 'string' && tc.id) {
      for (const [i, st] of this.calls) if (st.id === tc.id) return i;
      return this.calls.size;
    }
    return position;
  }

  end(): ProviderEnd {
    // A body that ends with neither [DONE] nor a finish reason was cut short, not finished.
    if (!this.done && this.finishReason === null) throw new UpstreamError('protocol', 'the upstream closed the stream before it finished');
    for (const [index, st] of this.calls) {
      if (!st.started) throw new UpstreamError('protocol', `the upstream never named tool call ${index}`);
    }
    return { type: 'end', finishReason: this.finishReason ?? 'stop', usage: this.usage };
  }
}

function withLogprobs(ev: Extract<ProviderEvent, { type: 'text' }>, logprobs: TokenLogprob[] | null): ProviderEvent {
  if (logprobs?.length) ev.logprobs = logprobs;
  return ev;
}

function bytesOf(v: unknown): number[] | null {
  return Array.isArray(v) && v.every((b) => Number.isInteger(b) && b >= 0 && b <= 255) ? (v as number[]) : null;
}

/** choices[].logprobs.content[] of a chat chunk, each entry checked; malformed entries are left out. */
function chatLogprobs(raw: unknown): TokenLogprob[] | null {
  if (!isObject(raw) || !Array.isArray(raw.content)) return null;
  const out: TokenLogprob[] = [];
  for (const e of raw.content) {
    if (!isObject(e) || typeof e.token !== 'string' || !finite(e.logprob)) continue;
    const top = Array.isArray(e.top_logprobs) ? e.top_logprobs : [];
    out.push({
      token: e.token,
      logprob: e.logprob,
      bytes: bytesOf(e.bytes),
      top_logprobs: top.flatMap((t) => (isObject(t) && typeof t.token === 'string' && finite(t.logprob) ? [{ token: t.token, logprob: t.logprob, bytes: bytesOf(t.bytes) }] : [])),
    });
  }
  return out;
}

/** A legacy completion's logprobs ({tokens, token_logprobs, top_logprobs}) in the chat shape. */
function legacyLogprobs(raw: unknown): TokenLogprob[] | null {
  if (!isObject(raw) || !Array.isArray(raw.tokens) || !Array.isArray(raw.token_logprobs)) return null;
  const tops = Array.isArray(raw.top_logprobs) ? raw.top_logprobs : [];
  const out: TokenLogprob[] = [];
  raw.tokens.forEach((token, i) => {
    const lp = (raw.token_logprobs as unknown[])[i];
    if (typeof token !== 'string' || !finite(lp)) return;
    const top = tops[i];
    out.push({
      token,
      logprob: lp,
      bytes: null,
      top_logprobs: isObject(top) ? Object.entries(top).flatMap(([t, v]) => (finite(v) ? [{ token: t, logprob: v, bytes: null }] : [])) : [],
    });
  });
  return out;
}
