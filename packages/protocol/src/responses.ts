import { type EndEvent, eventPart, type GenerationStatus, type StoredEvent, startsPart, type TokenLogprob } from './events.js';
import type { GenerationMeta } from './meta.js';
import { type OutputPart, PartsAccumulator } from './parts.js';
import type { ChatMessage, ContentPart, GenerationRequest } from './requests.js';
import { responseIdOf } from './responses-request.js';

/**
 * OpenAI Responses / Open Responses wire format over the format-neutral event log.
 *
 * Unlike the chat and Anthropic encoders this one is stateful: `.done` events and
 * `response.completed` repeat everything a part (or the whole response) accumulated. A Responses
 * viewer therefore always replays the log from offset 1 and drops what the client has seen.
 *
 * sequence_number is a pure function of the stored event, so every viewer, on every edge, numbers
 * the same frame the same way and `starting_after=N` resumes exactly: `response.created` is 0,
 * `response.in_progress` 1, and the j-th frame of the event at offset k is k * 16 + j.
 */
export const SEQUENCE_STRIDE = 16;

export interface ResponsesContext {
  /** Generation id (gen_…); the Response id is responseIdOf(id). */
  id: string;
  model: string;
  /** Epoch ms the generation was accepted. */
  createdAtMs: number;
  request: GenerationRequest;
}

export function responsesContext(meta: GenerationMeta): ResponsesContext {
  return { id: meta.id, model: meta.model, createdAtMs: meta.createdAt, request: meta.request };
}

export type ResponseStatus = 'queued' | 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelled';

/** The Response status of a generation: from its end event when there is one, else from its meta status. */
export function responseStatus(status: GenerationStatus, end: EndEvent | null): ResponseStatus {
  if (end) {
    if (end.status === 'failed') return 'failed';
    if (end.status === 'cancelled') return 'cancelled';
    return incompleteReason(end) ? 'incomplete' : 'completed';
  }
  if (status === 'queued') return 'queued';
  if (status === 'running') return 'in_progress';
  return status;
}

function incompleteReason(end: EndEvent): string | null {
  if (end.status === 'cancelled') return 'cancelled';
  if (end.finishReason === 'length') return 'max_output_tokens';
  if (end.finishReason === 'content_filter') return 'content_filter';
  return null;
}

/** Item ids are derived from the generation and the part, so every viewer names an item alike. */
function itemId(ctx: ResponsesContext, p: OutputPart): string {
  const prefix = p.type === 'tool_call' ? 'fc' : p.type === 'reasoning' ? 'rs' : 'msg';
  return `${prefix}_${ctx.id.slice(4)}_${p.part}`;
}

/** Open Responses requires `bytes` arrays; the stored shape allows null. */
function wireLogprobs(lps: readonly TokenLogprob[]): Record<string, unknown>[] {
  return lps.map((l) => ({
    token: l.token,
    logprob: l.logprob,
    bytes: l.bytes ?? [],
    top_logprobs: l.top_logprobs.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes ?? [] })),
  }));
}

type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

/** The output item of a part, as it stands. */
function outputItem(ctx: ResponsesContext, p: OutputPart, status: ItemStatus): Record<string, unknown> {
  const id = itemId(ctx, p);
  switch (p.type) {
    case 'text':
      return { type: 'message', id, status, role: 'assistant', content: status === 'in_progress' ? [] : [textContent(p)] };
    case 'refusal':
      return { type: 'message', id, status, role: 'assistant', content: status === 'in_progress' ? [] : [{ type: 'refusal', refusal: p.text }] };
    case 'reasoning': {
      // Upstream reasoning text (vLLM reasoning_content, Anthropic thinking) is shown as the
      // reasoning item's summary: the part of a reasoning item that every Responses client
      // (the openai SDK, @ai-sdk/openai, the Open Responses schema) streams and displays.
      const item: Record<string, unknown> = { type: 'reasoning', id, summary: status === 'in_progress' ? [] : [{ type: 'summary_text', text: p.text }] };
      const enc = p.signature ?? p.redacted;
      if (enc !== undefined) item.encrypted_content = enc;
      return item;
    }
    case 'tool_call':
      return { type: 'function_call', id, call_id: p.callId, name: p.name, arguments: status === 'in_progress' ? '' : p.arguments, status };
  }
}

function textContent(p: Extract<OutputPart, { type: 'text' }>): Record<string, unknown> {
  return { type: 'output_text', text: p.text, annotations: [], logprobs: wireLogprobs(p.logprobs) };
}

function usageOf(end: EndEvent): Record<string, unknown> {
  const u = end.usage;
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: u.total_tokens,
  };
}

function echoTools(req: GenerationRequest): Record<string, unknown>[] {
  return (req.tools ?? []).map((t) => ({
    type: 'function',
    name: t.function.name,
    description: t.function.description ?? null,
    parameters: t.function.parameters ?? null,
    strict: t.function.strict ?? null,
  }));
}

function echoToolChoice(req: GenerationRequest): unknown {
  const c = req.toolChoice;
  if (c === undefined) return 'auto';
  return typeof c === 'string' ? c : { type: 'function', name: c.function.name };
}

function echoFormat(req: GenerationRequest): Record<string, unknown> {
  const f = req.responseFormat;
  if (!f || f.type === 'text') return { type: 'text' };
  if (f.type === 'json_object') return { type: 'json_object' };
  const s = f.json_schema as { name: string; schema?: Record<string, unknown>; strict?: boolean; description?: string };
  return { type: 'json_schema', name: s.name, description: s.description ?? null, schema: s.schema ?? null, strict: s.strict ?? false };
}

function num(params: Record<string, unknown>, key: string, dflt: number): number {
  const v = params[key];
  return typeof v === 'number' ? v : dflt;
}

function str(params: Record<string, unknown>, key: string): string | null {
  const v = params[key];
  return typeof v === 'string' ? v : null;
}

/**
 * One viewer's encoder. Feed it every stored event from offset 1 in order (encode() for SSE
 * frames, or fold() to build the Response object); frames numbered ≤ startingAfter are dropped.
 * Every encoder that has taken events 1 … k-1 is in the same state, so the frames of event k are
 * the same for all of them: one viewer may encode() it and the others fold() it and reuse those
 * bytes (the edge does, so N Responses viewers cost about one encode per event).
 */
export class ResponsesEncoder {
  private readonly acc = new PartsAccumulator();
  /** Parts whose output_item.added went out and whose output_item.done has not. */
  private readonly open = new Set<number>();
  /** Status each closed part ended with. */
  private readonly closedAs = new Map<number, ItemStatus>();
  private end: EndEvent | null = null;
  private seq = 0;
  private out = '';

  constructor(
    private readonly ctx: ResponsesContext,
    /** Drop frames with sequence_number ≤ this; -1: send everything. */
    readonly startingAfter = -1,
  ) {}

  /** response.created and response.in_progress (sequence 0 and 1), before the first event. */
  preamble(): string {
    this.out = '';
    const snap = this.snapshot('in_progress');
    this.seq = 0;
    this.frame('response.created', { response: { ...snap, status: this.ctx.request.responses?.background ? 'queued' : 'in_progress' } });
    this.frame('response.in_progress', { response: snap });
    return this.out;
  }

  /** The SSE frames of one stored event (possibly none for this viewer). Events must come in offset order from 1. */
  encode(ev: StoredEvent): string {
    this.out = '';
    this.seq = ev.offset * SEQUENCE_STRIDE;
    this.apply(ev, true);
    return this.out;
  }

  /** Folds events into the state without building frames (the Response object of GET /v1/responses/:id). */
  fold(events: readonly StoredEvent[]): void {
    for (const ev of events) this.apply(ev, false);
  }

  /** True once the terminal event was seen. */
  get ended(): boolean {
    return this.end !== null;
  }

  /** The Response object as it stands. `status`: what the generation's meta says, used until the end event is seen. */
  snapshot(status: ResponseStatus): Record<string, unknown> {
    const { ctx, end } = this;
    const req = ctx.request;
    const opts = req.responses;
    const final = end ? responseStatus('completed', end) : status;
    const reason = end ? incompleteReason(end) : null;
    const parts = this.acc.parts.filter((p): p is OutputPart => p !== undefined);
    const itemStatus = (p: OutputPart): ItemStatus => this.closedAs.get(p.part) ?? (this.open.has(p.part) ? 'in_progress' : 'completed');
    return {
      id: responseIdOf(ctx.id),
      object: 'response',
      created_at: Math.floor(ctx.createdAtMs / 1000),
      status: final,
      completed_at: end && final === 'completed' ? Math.floor((ctx.createdAtMs + end.ms) / 1000) : null,
      error: end?.status === 'failed' ? { code: end.error?.code ?? 'generation_failed', message: end.error?.message ?? 'the generation failed' } : null,
      incomplete_details: reason ? { reason } : null,
      instructions: opts?.instructions ?? null,
      max_output_tokens: req.maxTokens,
      max_tool_calls: null,
      model: ctx.model,
      output: parts.map((p) => outputItem(ctx, p, itemStatus(p))),
      parallel_tool_calls: req.parallelToolCalls ?? true,
      previous_response_id: opts?.previousResponseId ?? null,
      reasoning: { effort: req.reasoning?.effort ?? null, summary: req.reasoning?.summary ?? null },
      store: opts?.store ?? true,
      background: opts?.background ?? false,
      service_tier: 'default',
      temperature: num(req.params, 'temperature', 1),
      top_p: num(req.params, 'top_p', 1),
      presence_penalty: num(req.params, 'presence_penalty', 0),
      frequency_penalty: num(req.params, 'frequency_penalty', 0),
      top_logprobs: req.topLogprobs ?? 0,
      text: { format: echoFormat(req) },
      tool_choice: echoToolChoice(req),
      tools: echoTools(req),
      truncation: opts?.truncation ?? 'disabled',
      usage: end ? usageOf(end) : null,
      user: str(req.params, 'user'),
      safety_identifier: str(req.params, 'safety_identifier'),
      prompt_cache_key: str(req.params, 'prompt_cache_key'),
      metadata: req.metadata ?? {},
    };
  }

  private apply(ev: StoredEvent, emit: boolean): void {
    if (ev.kind === 'end') {
      this.end = ev;
      const reason = incompleteReason(ev);
      for (const p of [...this.open]) this.close(p, reason ? 'incomplete' : 'completed', emit);
      if (!emit) return;
      const response = this.snapshot('completed');
      if (ev.status === 'failed') this.frame('response.failed', { response });
      // A cancelled response has no event of its own in the API: it ends as incomplete, with
      // status "cancelled" and incomplete_details.reason "cancelled" in the snapshot.
      else if (reason) this.frame('response.incomplete', { response });
      else this.frame('response.completed', { response });
      return;
    }
    const n = eventPart(ev);
    const known = this.acc.parts[n] !== undefined;
    if (!known || startsPart(ev)) {
      // Parts are sequential: the one starting now closes every part still open before it.
      for (const p of [...this.open]) if (p !== n) this.close(p, 'completed', emit);
    }
    const part = this.acc.push(ev);
    if (!part) return;
    if (!known) this.openPart(part, emit);
    if (!emit) return;
    const ids = { item_id: itemId(this.ctx, part), output_index: part.part };
    switch (ev.kind) {
      case 'token':
        if (ev.text.length > 0) this.frame('response.output_text.delta', { ...ids, content_index: 0, delta: ev.text, logprobs: wireLogprobs(ev.logprobs ?? []) });
        break;
      case 'refusal':
        if (ev.text.length > 0) this.frame('response.refusal.delta', { ...ids, content_index: 0, delta: ev.text });
        break;
      case 'reasoning':
        if (ev.text.length > 0) this.frame('response.reasoning_summary_text.delta', { ...ids, summary_index: 0, delta: ev.text });
        break;
      case 'tool_args':
        if (ev.args.length > 0) this.frame('response.function_call_arguments.delta', { ...ids, delta: ev.args });
        break;
      case 'tool_call':
        break;
    }
  }

  private openPart(p: OutputPart, emit: boolean): void {
    this.open.add(p.part);
    if (!emit) return;
    const ids = { item_id: itemId(this.ctx, p), output_index: p.part };
    this.frame('response.output_item.added', { output_index: p.part, item: outputItem(this.ctx, p, 'in_progress') });
    if (p.type === 'text') this.frame('response.content_part.added', { ...ids, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
    else if (p.type === 'refusal') this.frame('response.content_part.added', { ...ids, content_index: 0, part: { type: 'refusal', refusal: '' } });
    else if (p.type === 'reasoning') this.frame('response.reasoning_summary_part.added', { ...ids, summary_index: 0, part: { type: 'summary_text', text: '' } });
  }

  private close(n: number, status: ItemStatus, emit: boolean): void {
    this.open.delete(n);
    this.closedAs.set(n, status);
    const p = this.acc.parts[n];
    if (!emit || !p) return;
    const ids = { item_id: itemId(this.ctx, p), output_index: p.part };
    switch (p.type) {
      case 'text':
        this.frame('response.output_text.done', { ...ids, content_index: 0, text: p.text, logprobs: wireLogprobs(p.logprobs) });
        this.frame('response.content_part.done', { ...ids, content_index: 0, part: textContent(p) });
        break;
      case 'refusal':
        this.frame('response.refusal.done', { ...ids, content_index: 0, refusal: p.text });
        this.frame('response.content_part.done', { ...ids, content_index: 0, part: { type: 'refusal', refusal: p.text } });
        break;
      case 'reasoning':
        this.frame('response.reasoning_summary_text.done', { ...ids, summary_index: 0, text: p.text });
        this.frame('response.reasoning_summary_part.done', { ...ids, summary_index: 0, part: { type: 'summary_text', text: p.text } });
        break;
      case 'tool_call':
        this.frame('response.function_call_arguments.done', { ...ids, name: p.name, arguments: p.arguments });
        break;
    }
    this.frame('response.output_item.done', { output_index: p.part, item: outputItem(this.ctx, p, status) });
  }

  /**
   * One SSE frame, numbered and dropped when the viewer has seen it. `event:` carries only our
   * own constant type names and `id:` only digits: no caller text reaches an SSE field.
   */
  private frame(type: string, body: Record<string, unknown>): void {
    const seq = this.seq++;
    if (seq <= this.startingAfter) return;
    this.out += `id: ${seq}\nevent: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...body })}\n\n`;
  }
}

/** The whole Response object of a generation from its events (GET /v1/responses/:id, non-streaming answers). */
export function responseObject(ctx: ResponsesContext, status: GenerationStatus, events: readonly StoredEvent[]): Record<string, unknown> {
  const enc = new ResponsesEncoder(ctx);
  enc.fold(events);
  const end = events.find((e): e is EndEvent => e.kind === 'end') ?? null;
  return enc.snapshot(responseStatus(status, end));
}

/**
 * The input items of a Response (GET /v1/responses/:id/input_items), oldest first: the
 * conversation the model was given, as stored in its normalised request, in Responses item
 * shapes — everything but `instructions` (not an item; an earlier response's conversation and
 * output, when previous_response_id named one, are). Ids are derived from the generation and the
 * item's position (`msg_<26 chars>_in<n>`; `rs_`, `fc_`, `fco_` for reasoning, calls and their
 * outputs), so they are stable and never equal an output item's id.
 */
export function responseInputItems(ctx: ResponsesContext): Record<string, unknown>[] {
  const req = ctx.request;
  const messages: ChatMessage[] = req.kind === 'completion' ? [{ role: 'user', content: req.prompt }] : [...req.messages];
  if (req.responses?.instructions != null && messages[0]?.role === 'system') messages.shift();
  const out: Record<string, unknown>[] = [];
  const push = (prefix: string, item: Record<string, unknown>) => out.push({ id: `${prefix}_${ctx.id.slice(4)}_in${out.length}`, ...item });
  for (const m of messages) {
    if (m.role === 'tool') {
      push('fco', { type: 'function_call_output', call_id: m.tool_call_id ?? '', output: toolOutput(m.content), status: 'completed' });
      continue;
    }
    if (m.role !== 'assistant') {
      push('msg', { type: 'message', role: m.role, status: 'completed', content: contentParts(m.content).map(inputContent) });
      continue;
    }
    // One assistant turn in the order the Responses API lists it: reasoning, message, calls.
    const r = m.reasoning;
    if (r) {
      push('rs', {
        type: 'reasoning',
        summary: r.text ? [{ type: 'summary_text', text: r.text }] : [],
        ...(r.signature !== undefined ? { encrypted_content: r.signature } : r.redacted !== undefined ? { encrypted_content: r.redacted } : {}),
      });
    }
    const text = contentParts(m.content).flatMap((p) => (p.type === 'text' ? [p.text] : []));
    if (text.join('') !== '')
      push('msg', { type: 'message', role: 'assistant', status: 'completed', content: text.map((t) => ({ type: 'output_text', text: t, annotations: [] })) });
    for (const c of m.tool_calls ?? []) push('fc', { type: 'function_call', call_id: c.id, name: c.function.name, arguments: c.function.arguments, status: 'completed' });
  }
  return out;
}

function contentParts(content: string | ContentPart[]): ContentPart[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
}

/** A user, system or developer message's part as a Responses input content part. */
function inputContent(p: ContentPart): Record<string, unknown> {
  if (p.type === 'text') return { type: 'input_text', text: p.text };
  if (p.type === 'image_url') return { type: 'input_image', image_url: p.image_url.url, detail: p.image_url.detail ?? 'auto' };
  return { type: 'input_audio', input_audio: { data: p.input_audio.data, format: p.input_audio.format } };
}

/** A tool result: its text, or its parts when it has images. */
function toolOutput(content: string | ContentPart[]): string | Record<string, unknown>[] {
  const parts = contentParts(content);
  return parts.every((p) => p.type === 'text') ? parts.map((p) => (p as { text: string }).text).join('') : parts.map(inputContent);
}

/** A sequence number → the offset of the stored event that carries it (0 for the preamble). */
export function offsetOfSequence(seq: number): number {
  return Math.floor(seq / SEQUENCE_STRIDE);
}
