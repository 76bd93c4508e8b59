import { ProtocolError } from './errors.js';
import type { OutputEvent, Usage } from './types.js';

/**
 * One SSE message of a tokencast stream, classified (docs/PROTOCOL.md, "SSE framing"):
 * an OpenAI chunk with an `id:` is an event at that offset (text, reasoning, a tool call's start
 * or a piece of its arguments, a refusal, or the end with its finish_reason); a chunk with
 * `choices: []` carries usage; `{"error": …}` ends the stream with an error; `[DONE]` closes it.
 */
export type Frame =
  | { kind: 'output'; event: OutputEvent }
  | { kind: 'end'; offset: number; finishReason: string | null }
  | { kind: 'usage'; usage: Usage }
  | { kind: 'error'; offset: number | null; code: string; message: string }
  | { kind: 'done' }
  | { kind: 'ignore' };

interface ToolCallDelta {
  index?: unknown;
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

interface Delta {
  content?: unknown;
  reasoning_content?: unknown;
  /** Some servers (vLLM ≥ 0.10, OpenRouter) name it `reasoning`. */
  reasoning?: unknown;
  reasoning_signature?: unknown;
  reasoning_redacted?: unknown;
  refusal?: unknown;
  tool_calls?: unknown;
}

interface Chunk {
  choices?: { delta?: Delta; text?: unknown; finish_reason?: unknown }[];
  usage?: (Partial<Usage> & Record<string, unknown>) | null;
  error?: { code?: unknown; message?: unknown };
}

const OFFSET = /^(0|[1-9][0-9]{0,15})$/;

function parseId(id: string | undefined): number | null {
  if (id === undefined || id === '') return null;
  if (!OFFSET.test(id)) throw new ProtocolError(`event id ${JSON.stringify(id)} is not an offset`);
  return Number(id);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function usageOf(u: Partial<Usage> & Record<string, unknown>): Usage {
  const p = Number(u.prompt_tokens ?? 0);
  const c = Number(u.completion_tokens ?? 0);
  const out: Usage = { prompt_tokens: p, completion_tokens: c, total_tokens: Number(u.total_tokens ?? p + c) };
  const cached = (u.prompt_tokens_details as { cached_tokens?: unknown } | null | undefined)?.cached_tokens;
  if (typeof cached === 'number') out.prompt_tokens_details = { cached_tokens: cached };
  const reasoning = (u.completion_tokens_details as { reasoning_tokens?: unknown } | null | undefined)?.reasoning_tokens;
  if (typeof reasoning === 'number') out.completion_tokens_details = { reasoning_tokens: reasoning };
  return out;
}

/**
 * The output event of a chunk's delta. tokencast writes one kind per event (docs/PROTOCOL.md), so
 * the first field present decides: a tool call (with an id: its start; without: an arguments
 * piece), reasoning, a refusal, else text (possibly '', e.g. a completion's non-text event).
 */
function outputOf(offset: number, delta: Delta | undefined, text: unknown): OutputEvent {
  const calls = delta?.tool_calls;
  if (Array.isArray(calls) && calls.length > 0) {
    const call = calls[0] as ToolCallDelta;
    if (typeof call.index !== 'number' || !Number.isSafeInteger(call.index) || call.index < 0) throw new ProtocolError(`a tool call at offset ${offset} has no index`);
    const id = str(call.id);
    const name = str(call.function?.name);
    if (id !== undefined && name !== undefined) return { type: 'tool_call', offset, index: call.index, id, name };
    return { type: 'tool_args', offset, index: call.index, args: str(call.function?.arguments) ?? '' };
  }
  const reasoning = str(delta?.reasoning_content) ?? str(delta?.reasoning);
  const signature = str(delta?.reasoning_signature);
  const redacted = str(delta?.reasoning_redacted);
  if (reasoning !== undefined || signature !== undefined || redacted !== undefined) {
    const ev: OutputEvent = { type: 'reasoning', offset, text: reasoning ?? '' };
    if (signature !== undefined) ev.signature = signature;
    if (redacted !== undefined) ev.redacted = redacted;
    return ev;
  }
  const refusal = str(delta?.refusal);
  if (refusal !== undefined) return { type: 'refusal', offset, text: refusal };
  return { type: 'token', offset, text: str(delta?.content) ?? str(text) ?? '' };
}

export function parseFrame(id: string | undefined, data: string): Frame {
  if (data === '[DONE]') return { kind: 'done' };
  const offset = parseId(id);
  let chunk: Chunk;
  try {
    chunk = JSON.parse(data) as Chunk;
  } catch (err) {
    throw new ProtocolError('an SSE data line is not JSON', { cause: err });
  }
  if (chunk === null || typeof chunk !== 'object') throw new ProtocolError('an SSE data line is not a JSON object');
  if (chunk.error && typeof chunk.error === 'object') {
    const code = typeof chunk.error.code === 'string' ? chunk.error.code : 'generation_failed';
    const message = typeof chunk.error.message === 'string' ? chunk.error.message : 'the generation failed';
    return { kind: 'error', offset, code, message };
  }
  const choice = chunk.choices?.[0];
  if (!choice) {
    if (chunk.usage && typeof chunk.usage === 'object') return { kind: 'usage', usage: usageOf(chunk.usage) };
    return { kind: 'ignore' };
  }
  if (offset === null) return { kind: 'ignore' };
  if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
    return { kind: 'end', offset, finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null };
  }
  return { kind: 'output', event: outputOf(offset, choice.delta, choice.text) };
}
