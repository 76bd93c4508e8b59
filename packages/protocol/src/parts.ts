import { type DeltaEvent, eventPart, type StoredEvent, type TokenLogprob } from './events.js';

/**
 * The output of a generation gathered by part: what a non-streaming answer shows, and what a
 * stateful encoder (the Responses API's `.done` events) needs to remember. Part numbers are the
 * stored events' `part`.
 */
export type OutputPart =
  /** logprobs: empty unless they were stored. */
  | { type: 'text'; part: number; text: string; logprobs: TokenLogprob[] }
  /** signature: absent until a signature event; redacted: a redacted_thinking block's data. */
  | { type: 'reasoning'; part: number; text: string; signature?: string; redacted?: string }
  /** arguments: the JSON arguments so far. */
  | { type: 'tool_call'; part: number; index: number; callId: string; name: string; arguments: string }
  | { type: 'refusal'; part: number; text: string };

/** Folds delta events into parts, one event at a time (in offset order). */
export class PartsAccumulator {
  /** By part number; a hole only if events were skipped. */
  readonly parts: OutputPart[] = [];

  /** Adds one event; returns the part it belongs to, updated. End events are ignored (null). */
  push(ev: StoredEvent): OutputPart | null {
    if (ev.kind === 'end') return null;
    const n = eventPart(ev);
    const cur = this.parts[n];
    const part = cur && cur.type === partType(ev) ? cur : this.open(ev, n);
    switch (ev.kind) {
      case 'token':
        if (part.type === 'text') {
          part.text += ev.text;
          if (ev.logprobs) part.logprobs.push(...ev.logprobs);
        }
        break;
      case 'reasoning':
        if (part.type === 'reasoning') {
          part.text += ev.text;
          if (ev.signature !== undefined) part.signature = ev.signature;
          if (ev.redacted !== undefined) part.redacted = (part.redacted ?? '') + ev.redacted;
        }
        break;
      case 'refusal':
        if (part.type === 'refusal') part.text += ev.text;
        break;
      case 'tool_args':
        if (part.type === 'tool_call') part.arguments += ev.args;
        break;
      case 'tool_call':
        break;
    }
    return part;
  }

  private open(ev: DeltaEvent, n: number): OutputPart {
    let part: OutputPart;
    if (ev.kind === 'token') part = { type: 'text', part: n, text: '', logprobs: [] };
    else if (ev.kind === 'reasoning') part = { type: 'reasoning', part: n, text: '' };
    else if (ev.kind === 'refusal') part = { type: 'refusal', part: n, text: '' };
    else if (ev.kind === 'tool_call') part = { type: 'tool_call', part: n, index: ev.index, callId: ev.callId, name: ev.name, arguments: '' };
    // Arguments whose start was not seen (a viewer that began mid-call): a call without id or name.
    else part = { type: 'tool_call', part: n, index: ev.index, callId: '', name: '', arguments: '' };
    this.parts[n] = part;
    return part;
  }
}

function partType(ev: DeltaEvent): OutputPart['type'] {
  if (ev.kind === 'token') return 'text';
  if (ev.kind === 'tool_call' || ev.kind === 'tool_args') return 'tool_call';
  return ev.kind;
}

/** Every part of these events, in part order (holes dropped). */
export function accumulateParts(events: readonly StoredEvent[]): OutputPart[] {
  const acc = new PartsAccumulator();
  for (const ev of events) acc.push(ev);
  return acc.parts.filter((p): p is OutputPart => p !== undefined);
}
