import { encodeSseEvent, type StoredEvent, type WireContext } from '@tokencast/protocol';

/**
 * The bytes every SSE peer sends for one event, so that all of them carry the same payloads as
 * tokencast: an OpenAI chat chunk per token, then the finish chunk and [DONE].
 */
export function benchContext(id: string): WireContext {
  return { id, kind: 'chat', model: 'mock', created: 1_700_000_000, includeUsage: false };
}

export function tokenEvent(offset: number, text: string): StoredEvent {
  return { offset, kind: 'token', text, tokens: 1, ms: [0] };
}

export function endEvent(offset: number, tokens: number): StoredEvent {
  return {
    offset,
    kind: 'end',
    status: 'completed',
    finishReason: 'stop',
    usage: { prompt_tokens: 1, completion_tokens: tokens, total_tokens: tokens + 1 },
    error: null,
    ms: 0,
  };
}

export function sseFrame(ctx: WireContext, ev: StoredEvent): string {
  return encodeSseEvent(ctx, ev);
}

/** The chat chunk object of one token (what socket.io emits, serialised by socket.io itself). */
export function chunkObject(ctx: WireContext, offset: number, text: string): Record<string, unknown> {
  const delta: Record<string, string> = offset === 1 ? { role: 'assistant', content: text } : { content: text };
  return { id: `chatcmpl-${ctx.id}`, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] };
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

export const EVENTS_PATH = /^\/v1\/generations\/([^/?]+)\/events/;
