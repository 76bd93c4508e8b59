import type { AssistantMessage, ChatMessage, FinishedToolCall, StreamEvent, ToolCall, Usage } from './types.js';

/**
 * Reassembles the assistant's answer from a stream's events: the text, the reasoning (and its
 * signature), the refusal, and each tool call with its arguments. Feed it every event, in order;
 * read its fields at any time for the answer so far (a UI draws from them while it streams).
 *
 *   const acc = new MessageAccumulator();
 *   for await (const ev of tc.stream(request)) acc.add(ev);
 *   const { text, toolCalls } = acc.message();   // toolCalls[i].input: the parsed arguments
 */
export class MessageAccumulator {
  text = '';
  reasoning = '';
  /** null until a signature arrives. */
  reasoningSignature: string | null = null;
  /** null unless redacted thinking arrived. */
  reasoningRedacted: string | null = null;
  /** null unless the model refused. */
  refusal: string | null = null;
  /** In order of their index; `arguments` grows as pieces arrive. */
  readonly toolCalls: ToolCall[] = [];
  /** Set by the `done` event; null before it (and after an `error`). */
  finishReason: string | null = null;
  usage: Usage | null = null;
  /** The stream's terminal event has been added. */
  ended = false;

  add(ev: StreamEvent): void {
    switch (ev.type) {
      case 'token':
        this.text += ev.text;
        break;
      case 'reasoning':
        this.reasoning += ev.text;
        if (ev.signature !== undefined) this.reasoningSignature = (this.reasoningSignature ?? '') + ev.signature;
        if (ev.redacted !== undefined) this.reasoningRedacted = (this.reasoningRedacted ?? '') + ev.redacted;
        break;
      case 'refusal':
        this.refusal = (this.refusal ?? '') + ev.text;
        break;
      case 'tool_call':
        this.toolCalls.push({ index: ev.index, id: ev.id, name: ev.name, arguments: '' });
        break;
      case 'tool_args': {
        // By index, not "the last call": upstreams that stream parallel calls may interleave them.
        const call = this.toolCalls.find((c) => c.index === ev.index);
        if (call) call.arguments += ev.args;
        break;
      }
      case 'done':
        this.finishReason = ev.finishReason;
        this.usage = ev.usage;
        this.ended = true;
        break;
      case 'error':
        this.ended = true;
        break;
    }
  }

  /** The answer so far, with each tool call's arguments parsed (see FinishedToolCall.input). */
  message(): AssistantMessage {
    return {
      text: this.text,
      reasoning: this.reasoning,
      reasoningSignature: this.reasoningSignature,
      reasoningRedacted: this.reasoningRedacted,
      refusal: this.refusal,
      toolCalls: this.toolCalls.map(finishToolCall),
    };
  }

  /** The answer as the assistant message of the next request (an agent's second turn). */
  toChatMessage(): ChatMessage {
    const m: ChatMessage = { role: 'assistant', content: this.text === '' && this.toolCalls.length > 0 ? null : this.text };
    if (this.toolCalls.length > 0) m.tool_calls = this.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
    if (this.reasoning !== '') m.reasoning_content = this.reasoning;
    return m;
  }
}

/** A tool call with its arguments parsed: '' is {} (a tool without parameters); invalid JSON leaves input undefined. */
export function finishToolCall(call: ToolCall): FinishedToolCall {
  let input: unknown;
  if (call.arguments.trim() === '') input = {};
  else {
    try {
      input = JSON.parse(call.arguments);
    } catch {
      // A call cut short (max_tokens, a cancel) has half its JSON: say so by leaving input unset.
      input = undefined;
    }
  }
  return { ...call, input };
}
