import { type DeltaEvent, type EndEvent, eventPart, type FinishReason, type StoredEvent, startsPart, type Usage } from './events.js';
import { accumulateParts, type OutputPart } from './parts.js';

/**
 * Anthropic Messages wire format over the same format-neutral event log: a generation created
 * through OpenAI's API can be watched as Anthropic events and the other way round (?format=).
 * Offsets and ids are the same; only the payloads differ.
 */
export interface AnthropicContext {
  id: string;
  model: string;
  /** Input tokens, when known at the start (0 otherwise: the end event carries the real count). */
  inputTokens: number;
}

export function messageId(id: string): string {
  return `msg_${id}`;
}

const STOP_REASON: Record<FinishReason, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  content_filter: 'refusal',
  tool_calls: 'tool_use',
  cancelled: 'end_turn',
  error: 'end_turn',
};

function frame(type: string, body: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
}

/**
 * message_start: before the first event a viewer receives, whatever its offset. Content blocks
 * are opened by the events themselves (a part's first event), so the block index is the part.
 */
export function anthropicPreamble(ctx: AnthropicContext): string {
  return frame('message_start', {
    message: {
      id: messageId(ctx.id),
      type: 'message',
      role: 'assistant',
      model: ctx.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: ctx.inputTokens, output_tokens: 0 },
    },
  });
}

/** The content block a part's first event opens (content_block_start's content_block). */
function blockStart(ev: DeltaEvent): Record<string, unknown> {
  switch (ev.kind) {
    case 'tool_call':
      return { type: 'tool_use', id: ev.callId, name: ev.name, input: {} };
    case 'reasoning':
      return ev.redacted !== undefined ? { type: 'redacted_thinking', data: ev.redacted } : { type: 'thinking', thinking: '', signature: '' };
    case 'tool_args': // arguments before their start are not written by the producer; kept as a tool block
      return { type: 'tool_use', id: '', name: '', input: {} };
    default:
      // text, and a refusal (Anthropic has no refusal block: its text is the answer, stop_reason says refusal)
      return { type: 'text', text: '' };
  }
}

/** The content_block_delta frames of one event (none for a tool call's start or a redacted block). */
function blockDeltas(index: number, ev: DeltaEvent): string {
  const delta = (d: Record<string, unknown>) => frame('content_block_delta', { index, delta: d });
  switch (ev.kind) {
    case 'token':
    case 'refusal':
      return delta({ type: 'text_delta', text: ev.text });
    case 'tool_args':
      return delta({ type: 'input_json_delta', partial_json: ev.args });
    case 'tool_call':
      return '';
    case 'reasoning': {
      if (ev.redacted !== undefined) return '';
      let out = ev.text.length > 0 || ev.signature === undefined ? delta({ type: 'thinking_delta', thinking: ev.text }) : '';
      if (ev.signature !== undefined) out += delta({ type: 'signature_delta', signature: ev.signature });
      return out;
    }
  }
}

/**
 * One stored event as Anthropic SSE frames; the first frame carries `id: <offset>` so that
 * Last-Event-ID resumes exactly as with the OpenAI format. A part's first event closes the
 * previous block and opens its own; the end closes the last one.
 */
export function encodeAnthropicEvent(ev: StoredEvent): string {
  let out = `id: ${ev.offset}\n`;
  if (ev.kind !== 'end') {
    const index = eventPart(ev);
    if (startsPart(ev)) {
      if (index > 0) out += frame('content_block_stop', { index: index - 1 });
      out += frame('content_block_start', { index, content_block: blockStart(ev) });
    }
    return out + blockDeltas(index, ev);
  }
  if (ev.status === 'failed') {
    const e = ev.error ?? { code: 'generation_failed', message: 'the generation failed' };
    return out + frame('error', { error: { type: 'api_error', message: e.message, code: e.code } });
  }
  const parts = ev.parts ?? 0;
  if (parts > 0) out += frame('content_block_stop', { index: parts - 1 });
  out += frame('message_delta', {
    delta: { stop_reason: STOP_REASON[ev.finishReason], stop_sequence: null },
    usage: anthropicUsage(ev.usage),
  });
  return out + frame('message_stop', {});
}

/**
 * Anthropic's usage names. Its input_tokens leaves out what the cache served and what was written
 * to it (cache_read_input_tokens, cache_creation_input_tokens), where prompt_tokens counts both:
 * input + read + creation = prompt_tokens, so a client adding them up counts no token twice.
 */
function anthropicUsage(u: Usage): Record<string, number> {
  const d = u.prompt_tokens_details;
  if (!d) return { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens };
  const written = d.cache_write_tokens ?? 0;
  return {
    input_tokens: Math.max(0, u.prompt_tokens - d.cached_tokens - written),
    output_tokens: u.completion_tokens,
    cache_read_input_tokens: d.cached_tokens,
    cache_creation_input_tokens: written,
  };
}

function contentBlock(p: OutputPart): Record<string, unknown> {
  switch (p.type) {
    case 'text':
    case 'refusal':
      return { type: 'text', text: p.text };
    case 'reasoning':
      return p.redacted !== undefined ? { type: 'redacted_thinking', data: p.redacted } : { type: 'thinking', thinking: p.text, signature: p.signature ?? '' };
    case 'tool_call':
      return { type: 'tool_use', id: p.callId, name: p.name, input: parseToolInput(p.arguments) };
  }
}

/** A tool call's arguments as the object Anthropic's `input` is; {} when they are empty or not JSON. */
function parseToolInput(args: string): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

/** The non-streaming message (`events`: every delta event, in order). */
export function anthropicMessage(ctx: AnthropicContext, events: readonly StoredEvent[], end: EndEvent): Record<string, unknown> {
  return {
    id: messageId(ctx.id),
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content: accumulateParts(events).map(contentBlock),
    stop_reason: STOP_REASON[end.finishReason],
    stop_sequence: null,
    usage: anthropicUsage(end.usage),
  };
}
