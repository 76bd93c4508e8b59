import type { EndEvent, StoredEvent, TokenEvent, Usage } from './events.js';
import type { GenerationMeta } from './meta.js';

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

function chunk(ctx: WireContext, text: string | null, finish: string | null, role: boolean): Record<string, unknown> {
  const base: Record<string, unknown> = { id: responseId(ctx), object: '', created: ctx.created, model: ctx.model };
  if (ctx.kind === 'chat') {
    base.object = 'chat.completion.chunk';
    const delta: Record<string, string> = {};
    if (role) delta.role = 'assistant';
    if (text !== null) delta.content = text;
    base.choices = [{ index: 0, delta, logprobs: null, finish_reason: finish }];
  } else {
    base.object = 'text_completion';
    base.choices = [{ text: text ?? '', index: 0, logprobs: null, finish_reason: finish }];
  }
  return base;
}

function usageChunk(ctx: WireContext, usage: Usage): Record<string, unknown> {
  const object = ctx.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  return { id: responseId(ctx), object, created: ctx.created, model: ctx.model, choices: [], usage };
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
  if (ev.kind === 'token') return [JSON.stringify(chunk(ctx, ev.text, null, ev.offset === 1))];
  const out = [ev.status === 'failed' ? JSON.stringify(streamErrorPayload(ev)) : JSON.stringify(chunk(ctx, ctx.kind === 'chat' ? null : '', ev.finishReason, false))];
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

/** The non-streaming response, once the generation has ended. */
export function completeResponse(ctx: WireContext, events: readonly TokenEvent[], end: EndEvent): Record<string, unknown> {
  const text = events.map((e) => e.text).join('');
  const base = { id: responseId(ctx), created: ctx.created, model: ctx.model, usage: end.usage };
  if (ctx.kind === 'chat') {
    return {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: end.finishReason }],
    };
  }
  return { ...base, object: 'text_completion', choices: [{ text, index: 0, logprobs: null, finish_reason: end.finishReason }] };
}
