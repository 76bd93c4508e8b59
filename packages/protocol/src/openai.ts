import type { EndEvent, StoredEvent, TokenLogprob, Usage } from './events.js';
import type { GenerationMeta } from './meta.js';
import { accumulateParts } from './parts.js';

/**
 * OpenAI wire format: streaming chunks and whole responses, built from the stored events.
 * The edge encodes each event once per generation and writes the same bytes to every viewer.
 */
export interface WireContext {
  id: string;
  kind: GenerationMeta['kind'];
  model: string;
  /** Unix seconds, as OpenAI's `created`. */
  created: number;
  includeUsage: boolean;
  /** Add a `tokencast.timings` payload (TTFT, inter-token latency, tokens/s) before [DONE]. */
  includeTimings?: boolean;
}

export function wireContext(meta: GenerationMeta, includeUsage = meta.request.includeUsage): WireContext {
  return { id: meta.id, kind: meta.kind, model: meta.model, created: Math.floor(meta.createdAt / 1000), includeUsage, includeTimings: meta.request.includeTimings === true };
}

const DONE_FRAME = 'data: [DONE]\n\n';
export const HEARTBEAT_FRAME = ':\n\n';

export function responseId(ctx: Pick<WireContext, 'id' | 'kind'>): string {
  return ctx.kind === 'chat' ? `chatcmpl-${ctx.id}` : `cmpl-${ctx.id}`;
}

type ChatDelta = Record<string, unknown>;

/** The chat delta of one stored delta event (docs/PROTOCOL.md, "OpenAI chat"). */
function chatDelta(ev: Exclude<StoredEvent, EndEvent>): ChatDelta {
  switch (ev.kind) {
    case 'token':
      return { content: ev.text };
    case 'reasoning': {
      // reasoning_content is the field vLLM, DeepSeek and llama.cpp stream. Chat chunks have no
      // field for a signature or redacted thinking, so they ride in tokencast's own fields
      // (other clients ignore unknown delta fields); @tokencast/client reads them, so an agent
      // can send the turn back to an Anthropic upstream intact.
      const d: ChatDelta = { reasoning_content: ev.text };
      if (ev.signature !== undefined) d.reasoning_signature = ev.signature;
      if (ev.redacted !== undefined) d.reasoning_redacted = ev.redacted;
      return d;
    }
    case 'refusal':
      return { refusal: ev.text };
    case 'tool_call':
      return { tool_calls: [{ index: ev.index, id: ev.callId, type: 'function', function: { name: ev.name, arguments: '' } }] };
    case 'tool_args':
      return { tool_calls: [{ index: ev.index, function: { arguments: ev.args } }] };
  }
}

function chunk(ctx: WireContext, delta: ChatDelta | null, text: string | null, finish: string | null, logprobs: TokenLogprob[] | null): Record<string, unknown> {
  const base: Record<string, unknown> = { id: responseId(ctx), object: '', created: ctx.created, model: ctx.model };
  const lp = logprobs && logprobs.length > 0 ? logprobs : null;
  if (ctx.kind === 'chat') {
    base.object = 'chat.completion.chunk';
    base.choices = [{ index: 0, delta: delta ?? {}, logprobs: lp ? { content: lp, refusal: null } : null, finish_reason: finish }];
  } else {
    base.object = 'text_completion';
    base.choices = [{ text: text ?? '', index: 0, logprobs: lp ? completionLogprobs(lp) : null, finish_reason: finish }];
  }
  return base;
}

/** The legacy completions API's logprobs shape (token lists side by side). */
function completionLogprobs(lp: readonly TokenLogprob[]): Record<string, unknown> {
  return {
    tokens: lp.map((t) => t.token),
    token_logprobs: lp.map((t) => t.logprob),
    top_logprobs: lp.map((t) => Object.fromEntries(t.top_logprobs.map((a) => [a.token, a.logprob]))),
    text_offset: null,
  };
}

function usageChunk(ctx: WireContext, usage: Usage): Record<string, unknown> {
  const object = ctx.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  return { id: responseId(ctx), object, created: ctx.created, model: ctx.model, choices: [], usage: openaiUsage(usage) };
}

/** Usage in OpenAI's fields only: cache writes (an Anthropic count) have no name there. */
function openaiUsage(u: Usage): Usage {
  if (u.prompt_tokens_details?.cache_write_tokens === undefined) return u;
  return { ...u, prompt_tokens_details: { cached_tokens: u.prompt_tokens_details.cached_tokens } };
}

/** The OpenAI-style error object carried by a failed stream's last data event. */
export function streamErrorPayload(ev: EndEvent): Record<string, unknown> {
  const err = ev.error ?? { code: 'generation_failed', message: 'generation failed' };
  return { error: { message: err.message, type: 'server_error', param: null, code: err.code } };
}

/**
 * The `data:` payloads of one stored event, each a single-line JSON text (JSON.stringify escapes
 * CR/LF), in order. A token event has one; an end event has its finish (or error) chunk, the
 * usage chunk when asked for, and the "[DONE]" marker. SSE and WebSocket carry the same payloads.
 */
export function eventPayloads(ctx: WireContext, ev: StoredEvent): string[] {
  if (ev.kind !== 'end') {
    if (ctx.kind !== 'chat') {
      // A completion has text only; any other event keeps its offset as an empty piece.
      return [JSON.stringify(chunk(ctx, null, ev.kind === 'token' ? ev.text : '', null, ev.kind === 'token' ? (ev.logprobs ?? null) : null))];
    }
    const delta = chatDelta(ev);
    // The stream's first event names the role, whatever kind of part it opens.
    const withRole = ev.offset === 1 ? { role: 'assistant', ...delta } : delta;
    return [JSON.stringify(chunk(ctx, withRole, null, null, ev.kind === 'token' ? (ev.logprobs ?? null) : null))];
  }
  const out = [ev.status === 'failed' ? JSON.stringify(streamErrorPayload(ev)) : JSON.stringify(chunk(ctx, {}, '', ev.finishReason, null))];
  if (ctx.includeUsage) out.push(JSON.stringify(usageChunk(ctx, ev.usage)));
  if (ctx.includeTimings) out.push(JSON.stringify({ id: responseId(ctx), object: 'tokencast.timings', ...(ev.timings ?? {}) }));
  out.push('[DONE]');
  return out;
}

/**
 * One SSE frame group per stored event. `id:` is the event's offset (digits only, so no caller
 * text ever reaches an SSE field name or id); each payload is one `data:` line, so no text can
 * forge an event. Only the first frame of the group carries the id.
 */
export function encodeSseEvent(ctx: WireContext, ev: StoredEvent): string {
  const payloads = eventPayloads(ctx, ev);
  let out = `id: ${ev.offset}\n`;
  for (const p of payloads) out += `data: ${p}\n\n`;
  return out;
}

/**
 * The WebSocket message for one stored event: `{"type":"event","gen","offset","data":[…],"end"}`
 * where data holds the same payloads as the SSE frames ("[DONE]" is left out: `end` says it).
 * Built by concatenation because the payloads are JSON texts already.
 */
export function encodeWsEvent(ctx: WireContext, ev: StoredEvent): string {
  const payloads = eventPayloads(ctx, ev).filter((p) => p !== '[DONE]');
  return `{"type":"event","gen":"${ctx.id}","offset":${ev.offset},"data":[${payloads.join(',')}],"end":${ev.kind === 'end'}}`;
}

/** What a client that resumes after the terminal event receives: just the end of the stream. */
export const AFTER_END_FRAME = DONE_FRAME;

/** The non-streaming response, once the generation has ended (`events`: every delta event, in order). */
export function completeResponse(ctx: WireContext, events: readonly StoredEvent[], end: EndEvent): Record<string, unknown> {
  const parts = accumulateParts(events);
  const text = parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
  const logprobs = parts.flatMap((p) => (p.type === 'text' ? p.logprobs : []));
  const base = { id: responseId(ctx), created: ctx.created, model: ctx.model, usage: openaiUsage(end.usage) };
  if (ctx.kind === 'chat') {
    const message: Record<string, unknown> = { role: 'assistant', content: text.length > 0 || parts.length === 0 ? text : null };
    const reasoning = parts.map((p) => (p.type === 'reasoning' ? p.text : '')).join('');
    if (reasoning) message.reasoning_content = reasoning;
    const refusal = parts.map((p) => (p.type === 'refusal' ? p.text : '')).join('');
    if (refusal) message.refusal = refusal;
    const calls = parts.flatMap((p) => (p.type === 'tool_call' ? [{ id: p.callId, type: 'function', function: { name: p.name, arguments: p.arguments } }] : []));
    if (calls.length > 0) message.tool_calls = calls;
    return {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message, logprobs: logprobs.length > 0 ? { content: logprobs, refusal: null } : null, finish_reason: end.finishReason }],
    };
  }
  return {
    ...base,
    object: 'text_completion',
    choices: [{ text, index: 0, logprobs: logprobs.length > 0 ? completionLogprobs(logprobs) : null, finish_reason: end.finishReason }],
  };
}
