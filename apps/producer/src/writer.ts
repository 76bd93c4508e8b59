import { setTimeout as sleep } from 'node:timers/promises';
import { type GenerationStore, type NewEvent, StoreUnavailableError } from '@tokencast/engine';
import { type EndEvent, eventTokens, type StoredEvent } from '@tokencast/protocol';
import { UpstreamError } from './providers/errors.js';
import type { ProviderEvent } from './providers/provider.js';

export interface WriterOptions {
  /** How long to keep retrying an append while the store is unreachable, ms. */
  retryBudgetMs: number;
}

type PartKind = 'token' | 'reasoning' | 'refusal' | 'tool';

/**
 * What a generation has published so far, rebuilt from its stored events when a reclaimed
 * generation continues: the writer picks up its part numbering, the provider its position.
 * Feed it every stored event in offset order.
 */
export class PriorOutput {
  /** The text parts' text, joined. */
  text = '';
  /** Model tokens of every kind. */
  tokens = 0;
  /** Events without tokens (tool-call starts, reasoning signatures): see GenerateContext.resumeMarkers. */
  markers = 0;
  /** Per-token ms since accepted, for the timing summary. */
  readonly ms: number[] = [];
  /** Parts opened so far. */
  parts = 0;
  /** The last part opened: a delta of the same kind continues it. */
  current: { kind: PartKind; part: number } | null = null;
  /** Tool calls so far, by index → part. A resumed provider's upstream index is the stored index. */
  readonly toolParts = new Map<number, { part: number; index: number }>();

  add(ev: StoredEvent): void {
    if (ev.kind === 'end') return;
    const n = eventTokens(ev);
    this.tokens += n;
    if (n === 0) this.markers += 1;
    if (ev.kind === 'token') this.text += ev.text;
    if (ev.kind !== 'tool_call') this.ms.push(...ev.ms);
    const part = ev.part ?? 0;
    this.parts = Math.max(this.parts, part + 1);
    if (ev.kind === 'tool_call') this.toolParts.set(ev.index, { part, index: ev.index });
    if (ev.start === true || ev.offset === 1) this.current = { kind: ev.kind === 'tool_call' ? 'tool' : (ev.kind as PartKind), part };
  }
}

/**
 * Writes one generation's output to the store. At most one append is in flight; deltas that
 * arrive meanwhile wait in a buffer where consecutive deltas of the same part are coalesced into
 * one event, so a fast model never queues up writes and a slow store never slows the model. A
 * tool call's start is never merged with anything. The writer numbers the output parts (one per
 * text block, reasoning block, tool call or refusal, in order of first appearance) and marks each
 * part's first event. The end event follows every delta, in the same append as the last ones
 * when they are still buffered. Appends name their offsets, so a retry after a lost reply cannot
 * duplicate anything.
 */
export class GenerationWriter {
  private pending: NewEvent[] = [];
  private inflight: Promise<void> | null = null;
  private failure: unknown = null;
  private parts: number;
  private current: { kind: PartKind; part: number } | null;
  /** Upstream tool-call index → its part and stored index. */
  private readonly toolParts: Map<number, { part: number; index: number }>;
  private toolCalls: number;
  /** Model tokens handed to the writer so far, including ones already published before a resume. */
  tokens: number;
  /** Reasoning tokens among them (this writer's only), for usage when the upstream reports none. */
  reasoningTokens = 0;
  /** ms since accepted of every token this writer wrote, for the timing metrics. */
  readonly tokenMs: number[] = [];

  constructor(
    private readonly store: GenerationStore,
    private readonly id: string,
    private readonly fence: number,
    /** Epoch ms the job was accepted; per-token times are stored relative to it. */
    private readonly acceptedAt: number,
    /** Offset of the newest event already in the stream (0 for a fresh generation). */
    private lastOffset: number,
    /** Tokens already published (0 for a fresh generation); ignored when `prior` is given. */
    alreadyPublishedTokens: number,
    private readonly opts: WriterOptions,
    /** What a continued generation had published: part numbering carries on from it. */
    prior?: PriorOutput,
  ) {
    this.tokens = prior ? prior.tokens : alreadyPublishedTokens;
    this.parts = prior?.parts ?? 0;
    this.current = prior?.current ?? null;
    this.toolParts = new Map(prior?.toolParts ?? []);
    this.toolCalls = this.toolParts.size;
  }

  /** Parts opened so far (the end event's `parts`). */
  get partCount(): number {
    return this.parts;
  }

  /** A text delta (the common case; same as push({type:'text', …})). */
  write(text: string, tokens: number): void {
    this.push({ type: 'text', text, tokens });
  }

  /**
   * One provider event other than the end. Throws the write failure (e.g. FencedError) so the
   * caller stops generating, and UpstreamError for arguments of a tool call that never started.
   */
  push(ev: Exclude<ProviderEvent, { type: 'end' }>): void {
    if (this.failure) throw this.failure;
    const at = Date.now() - this.acceptedAt;
    switch (ev.type) {
      case 'text':
        this.delta('token', ev.text, ev.tokens, at, ev.logprobs);
        break;
      case 'reasoning':
        this.reasoningTokens += ev.tokens;
        this.delta('reasoning', ev.text, ev.tokens, at);
        break;
      case 'refusal':
        this.delta('refusal', ev.text, 1, at);
        break;
      case 'reasoning_signature': {
        const cont = this.current?.kind === 'reasoning';
        const part = cont ? (this.current?.part ?? 0) : this.open('reasoning');
        // Never merged: the signature is its own event, after the thinking it signs.
        this.pending.push(shape({ kind: 'reasoning', text: '', tokens: 0, ms: [], part, start: !cont, signature: ev.signature }));
        break;
      }
      case 'reasoning_redacted':
        // A block of its own: never merged with the thinking before it.
        this.pending.push(shape({ kind: 'reasoning', text: '', tokens: 0, ms: [], part: this.open('reasoning'), start: true, redacted: ev.data }));
        // Closed at once: thinking that follows is another block.
        this.current = null;
        break;
      case 'tool_call': {
        const part = this.open('tool');
        const index = this.toolCalls++;
        this.toolParts.set(ev.index, { part, index });
        this.pending.push({ kind: 'tool_call', part, start: true, index, callId: ev.id, name: ev.name, ms: at });
        break;
      }
      case 'tool_args': {
        const call = this.toolParts.get(ev.index);
        if (!call) throw new UpstreamError('protocol', `the upstream sent arguments for tool call ${ev.index} before starting it`);
        if (ev.args === '') break;
        this.count(1, at);
        const last = this.pending[this.pending.length - 1];
        if (last?.kind === 'tool_args' && last.part === call.part) {
          last.args += ev.args;
          last.tokens += 1;
          last.ms.push(at);
        } else {
          this.pending.push({ kind: 'tool_args', part: call.part, start: false, index: call.index, args: ev.args, tokens: 1, ms: [at] });
        }
        break;
      }
    }
    if (!this.inflight && this.pending.length > 0) this.inflight = this.flushLoop();
  }

  /** Waits for buffered events, then appends the terminal event (with any still buffered). */
  async end(ev: Omit<EndEvent, 'offset' | 'ms' | 'parts'>): Promise<void> {
    if (this.inflight) await this.inflight;
    if (this.failure) throw this.failure;
    const events = this.pending.splice(0);
    const end: NewEvent = { ...ev, ms: Date.now() - this.acceptedAt };
    if (this.parts > 0) end.parts = this.parts;
    events.push(end);
    await this.appendWithRetry(events);
  }

  /** Opens the next part; returns its number. */
  private open(kind: PartKind): number {
    const part = this.parts++;
    this.current = { kind, part };
    return part;
  }

  private count(tokens: number, at: number): void {
    this.tokens += tokens;
    for (let i = 0; i < tokens; i++) this.tokenMs.push(at);
  }

  private delta(kind: 'token' | 'reasoning' | 'refusal', text: string, tokens: number, at: number, logprobs?: NewEventLogprobs): void {
    if (text === '' && tokens === 0) return;
    this.count(tokens, at);
    const ms = Array.from({ length: tokens }, () => at);
    const cont = this.current?.kind === kind;
    const part = cont ? (this.current?.part ?? 0) : this.open(kind);
    const last = this.pending[this.pending.length - 1];
    // Coalesce with the buffered event of the same part (a signature event stays on its own).
    if (last && last.kind === kind && (last.part ?? 0) === part && !(last.kind === 'reasoning' && last.signature !== undefined)) {
      last.text += text;
      last.tokens += tokens;
      last.ms.push(...ms);
      if (last.kind === 'token' && logprobs) last.logprobs = [...(last.logprobs ?? []), ...logprobs];
      return;
    }
    const ev = shape({ kind, text, tokens, ms, part, start: !cont });
    if (ev.kind === 'token' && logprobs && logprobs.length > 0) ev.logprobs = [...logprobs];
    this.pending.push(ev);
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) await this.appendWithRetry(this.pending.splice(0));
    } catch (err) {
      this.failure = err;
    } finally {
      this.inflight = null;
    }
  }

  private async appendWithRetry(events: NewEvent[]): Promise<void> {
    const first = events[0];
    if (this.lastOffset === 0 && first && (first.kind === 'token' || first.kind === 'reasoning' || first.kind === 'refusal')) {
      // Offset 1 always opens its part (startsPart), so its start flag is not stored: the stream's
      // first entry is the master entry of Redis's first listpack node, and when it has the same
      // fields as the text entries after it Redis stores their field names once, not per entry
      // (about 3 bytes per event; test/integration/tools.test.ts measures it).
      delete first.start;
    }
    const deadline = Date.now() + this.opts.retryBudgetMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.store.append(this.id, this.fence, this.lastOffset, events);
        this.lastOffset = res.lastOffset;
        return;
      } catch (err) {
        // Only an unreachable store is worth waiting for; fencing and ending are final.
        if (!(err instanceof StoreUnavailableError) || Date.now() > deadline) throw err;
        await sleep(Math.min(100 * 2 ** attempt, 2_000));
      }
    }
  }
}

type NewEventLogprobs = Extract<ProviderEvent, { type: 'text' }>['logprobs'];
type TextLike = Extract<NewEvent, { kind: 'token' | 'reasoning' | 'refusal' }>;

/**
 * The stored form of a text-like delta: part and start left out when 0 and false, exactly as the
 * Redis codec stores them, so the memory and Redis engines hold the same events.
 */
function shape(ev: { kind: TextLike['kind']; text: string; tokens: number; ms: number[]; part: number; start: boolean; signature?: string; redacted?: string }): TextLike {
  const out = { kind: ev.kind, text: ev.text, tokens: ev.tokens, ms: ev.ms } as TextLike;
  if (ev.part !== 0) out.part = ev.part;
  if (ev.start) out.start = true;
  if (ev.signature !== undefined && out.kind === 'reasoning') out.signature = ev.signature;
  if (ev.redacted !== undefined && out.kind === 'reasoning') out.redacted = ev.redacted;
  return out;
}
