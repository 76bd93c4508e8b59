import type { ServerResponse } from 'node:http';
import { type FakeUpstream, recordingUpstream } from './fake-upstreams.js';

/**
 * Stand-in model servers for the fidelity tests: real HTTP servers that record every request
 * they receive (FakeUpstream.requests) and stream a scripted answer — reasoning, text and tool
 * calls, in pieces — in the OpenAI Chat Completions wire format (delta.reasoning_content,
 * delta.tool_calls[] with index/id/name/arguments pieces) or the Anthropic Messages one
 * (thinking blocks with thinking_delta and signature_delta, tool_use blocks with
 * input_json_delta).
 */
export type StandInOutput =
  | { kind: 'reasoning'; pieces: string[]; signature?: string }
  | { kind: 'text'; pieces: string[] }
  | { kind: 'tool_call'; id: string; name: string; args: string[] };

export interface StandInScript {
  output: StandInOutput[];
  /** input: all prompt tokens, cache reads (cached) and writes (cacheWrite, Anthropic only) included. */
  usage: { input: number; output: number; cached?: number; cacheWrite?: number; reasoning?: number };
  /** ms between two SSE events; default 2. */
  intervalMs?: number;
}

/** What a client should reassemble from a script: the reasoning text, the text, each tool call. */
export function expected(script: StandInScript): { reasoning: string; text: string; calls: { id: string; name: string; args: string }[] } {
  const out = { reasoning: '', text: '', calls: [] as { id: string; name: string; args: string }[] };
  for (const o of script.output) {
    if (o.kind === 'reasoning') out.reasoning += o.pieces.join('');
    else if (o.kind === 'text') out.text += o.pieces.join('');
    else out.calls.push({ id: o.id, name: o.name, args: o.args.join('') });
  }
  return out;
}

function send(res: ServerResponse, frames: string[], intervalMs: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let i = 0;
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    const f = frames[i++];
    if (f === undefined) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(f);
  }, intervalMs);
}

export function standInOpenAI(script: StandInScript): Promise<FakeUpstream> {
  const data = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    data({ id: 'chatcmpl-standin', object: 'chat.completion.chunk', created: 1, model: 'standin', choices: [{ index: 0, delta, finish_reason: finish }] });
  return recordingUpstream((_req, res) => {
    const frames: string[] = [chunk({ role: 'assistant', content: '' })];
    let calls = 0;
    for (const o of script.output) {
      if (o.kind === 'reasoning') for (const p of o.pieces) frames.push(chunk({ reasoning_content: p }));
      else if (o.kind === 'text') for (const p of o.pieces) frames.push(chunk({ content: p }));
      else {
        const index = calls++;
        frames.push(chunk({ tool_calls: [{ index, id: o.id, type: 'function', function: { name: o.name, arguments: '' } }] }));
        for (const a of o.args) frames.push(chunk({ tool_calls: [{ index, function: { arguments: a } }] }));
      }
    }
    frames.push(chunk({}, calls > 0 ? 'tool_calls' : 'stop'));
    const u = script.usage;
    frames.push(
      data({
        id: 'chatcmpl-standin',
        object: 'chat.completion.chunk',
        choices: [],
        usage: {
          prompt_tokens: u.input,
          completion_tokens: u.output,
          total_tokens: u.input + u.output,
          prompt_tokens_details: { cached_tokens: u.cached ?? 0 },
          completion_tokens_details: { reasoning_tokens: u.reasoning ?? 0 },
        },
      }),
      'data: [DONE]\n\n',
    );
    send(res, frames, script.intervalMs ?? 2);
  });
}

export function standInAnthropic(script: StandInScript): Promise<FakeUpstream> {
  const ev = (type: string, body: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
  return recordingUpstream((_req, res) => {
    const u = script.usage;
    const frames: string[] = [
      ev('message_start', {
        message: {
          id: 'msg_standin',
          type: 'message',
          role: 'assistant',
          model: 'standin',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: u.input - (u.cached ?? 0) - (u.cacheWrite ?? 0),
            cache_read_input_tokens: u.cached ?? 0,
            cache_creation_input_tokens: u.cacheWrite ?? 0,
            output_tokens: 1,
          },
        },
      }),
    ];
    let calls = 0;
    script.output.forEach((o, index) => {
      if (o.kind === 'reasoning') {
        frames.push(ev('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } }));
        for (const p of o.pieces) frames.push(ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: p } }));
        if (o.signature) frames.push(ev('content_block_delta', { index, delta: { type: 'signature_delta', signature: o.signature } }));
      } else if (o.kind === 'text') {
        frames.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }));
        for (const p of o.pieces) frames.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text: p } }));
      } else {
        calls++;
        frames.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id: o.id, name: o.name, input: {} } }));
        for (const a of o.args) frames.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: a } }));
      }
      frames.push(ev('content_block_stop', { index }));
      if (index === 0) frames.push(ev('ping', {}));
    });
    frames.push(
      ev('message_delta', { delta: { stop_reason: calls > 0 ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: u.output } }),
      ev('message_stop', {}),
    );
    send(res, frames, script.intervalMs ?? 2);
  });
}

/** The same script in the OpenAI Responses API's streaming events (reasoning as summary text, signature as encrypted_content). */
export function standInResponses(script: StandInScript): Promise<FakeUpstream> {
  let seq = 0;
  const ev = (type: string, body: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...body })}\n\n`;
  return recordingUpstream((_req, res) => {
    seq = 0;
    const base = { id: 'resp_standin', object: 'response', model: 'standin', output: [] };
    const frames: string[] = [
      ev('response.created', { response: { ...base, status: 'in_progress' } }),
      ev('response.in_progress', { response: { ...base, status: 'in_progress' } }),
    ];
    script.output.forEach((o, output_index) => {
      const item_id = `item_${output_index}`;
      if (o.kind === 'reasoning') {
        frames.push(ev('response.output_item.added', { output_index, item: { type: 'reasoning', id: item_id, summary: [] } }));
        for (const delta of o.pieces) frames.push(ev('response.reasoning_summary_text.delta', { item_id, output_index, summary_index: 0, delta }));
        const text = o.pieces.join('');
        frames.push(
          ev('response.output_item.done', {
            output_index,
            item: { type: 'reasoning', id: item_id, summary: [{ type: 'summary_text', text }], ...(o.signature ? { encrypted_content: o.signature } : {}) },
          }),
        );
      } else if (o.kind === 'text') {
        frames.push(ev('response.output_item.added', { output_index, item: { type: 'message', id: item_id, role: 'assistant', status: 'in_progress', content: [] } }));
        frames.push(ev('response.content_part.added', { item_id, output_index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }));
        for (const delta of o.pieces) frames.push(ev('response.output_text.delta', { item_id, output_index, content_index: 0, delta, logprobs: [] }));
        frames.push(
          ev('response.output_item.done', {
            output_index,
            item: { type: 'message', id: item_id, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: o.pieces.join('') }] },
          }),
        );
      } else {
        const item = { type: 'function_call', id: item_id, call_id: o.id, name: o.name, arguments: '', status: 'in_progress' };
        frames.push(ev('response.output_item.added', { output_index, item }));
        for (const delta of o.args) frames.push(ev('response.function_call_arguments.delta', { item_id, output_index, delta }));
        const args = o.args.join('');
        frames.push(ev('response.function_call_arguments.done', { item_id, output_index, arguments: args }));
        frames.push(ev('response.output_item.done', { output_index, item: { ...item, arguments: args, status: 'completed' } }));
      }
    });
    const u = script.usage;
    frames.push(
      ev('response.completed', {
        response: {
          ...base,
          status: 'completed',
          usage: {
            input_tokens: u.input,
            input_tokens_details: { cached_tokens: u.cached ?? 0 },
            output_tokens: u.output,
            output_tokens_details: { reasoning_tokens: u.reasoning ?? 0 },
            total_tokens: u.input + u.output,
          },
        },
      }),
    );
    send(res, frames, script.intervalMs ?? 2);
  });
}
