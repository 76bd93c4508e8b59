import { ProtocolError } from './errors.js';
import type { Usage } from './types.js';

/**
 * One SSE message of a tokencast stream, classified (docs/PROTOCOL.md, "SSE framing"):
 * an OpenAI chunk with an `id:` is an event at that offset (a token, or the end with its
 * finish_reason); a chunk with `choices: []` carries usage; `{"error": …}` ends the stream with
 * an error; `[DONE]` closes it.
 */
export type Frame =
  | { kind: 'token'; offset: number; text: string }
  | { kind: 'end'; offset: number; finishReason: string | null }
  | { kind: 'usage'; usage: Usage }
  | { kind: 'error'; offset: number | null; code: string; message: string }
  | { kind: 'done' }
  | { kind: 'ignore' };

interface Chunk {
  choices?: { delta?: { content?: unknown }; text?: unknown; finish_reason?: unknown }[];
  usage?: Partial<Usage> | null;
  error?: { code?: unknown; message?: unknown };
}

const OFFSET = /^(0|[1-9][0-9]{0,15})$/;

function parseId(id: string | undefined): number | null {
  if (id === undefined || id === '') return null;
  if (!OFFSET.test(id)) throw new ProtocolError(`event id ${JSON.stringify(id)} is not an offset`);
  return Number(id);
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
    if (chunk.usage && typeof chunk.usage === 'object') {
      const p = Number(chunk.usage.prompt_tokens ?? 0);
      const c = Number(chunk.usage.completion_tokens ?? 0);
      return { kind: 'usage', usage: { prompt_tokens: p, completion_tokens: c, total_tokens: Number(chunk.usage.total_tokens ?? p + c) } };
    }
    return { kind: 'ignore' };
  }
  if (offset === null) return { kind: 'ignore' };
  if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
    return { kind: 'end', offset, finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null };
  }
  const text = typeof choice.delta?.content === 'string' ? choice.delta.content : typeof choice.text === 'string' ? choice.text : '';
  return { kind: 'token', offset, text };
}
