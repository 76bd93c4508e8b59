import { setTimeout as sleep } from 'node:timers/promises';
import { type GenerationStore, type NewEvent, StoreUnavailableError } from '@tokencast/engine';
import type { EndEvent } from '@tokencast/protocol';

export interface WriterOptions {
  /** How long to keep retrying an append while the store is unreachable, ms. */
  retryBudgetMs: number;
}

/**
 * Writes one generation's tokens to the store. At most one append is in flight; tokens that
 * arrive meanwhile are coalesced into the next event, so a fast model never queues up writes
 * and a slow store never slows the model. The end event follows every token, in the same append
 * as the last ones when they are still buffered. Appends name their offsets, so a retry after a
 * lost reply cannot duplicate anything.
 */
export class GenerationWriter {
  private text = '';
  private count = 0;
  private ms: number[] = [];
  private inflight: Promise<void> | null = null;
  private failure: unknown = null;
  /** Model tokens handed to write() so far, including ones already published before a resume. */
  tokens: number;
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
    alreadyPublishedTokens: number,
    private readonly opts: WriterOptions,
  ) {
    this.tokens = alreadyPublishedTokens;
  }

  /** Throws the write failure (e.g. FencedError) so the caller stops generating. */
  write(text: string, tokens: number): void {
    if (this.failure) throw this.failure;
    const at = Date.now() - this.acceptedAt;
    this.text += text;
    this.count += tokens;
    this.tokens += tokens;
    for (let i = 0; i < tokens; i++) {
      this.ms.push(at);
      this.tokenMs.push(at);
    }
    if (!this.inflight) this.inflight = this.flushLoop();
  }

  /** Waits for buffered tokens, then appends the terminal event (with any still buffered). */
  async end(ev: Omit<EndEvent, 'offset' | 'ms'>): Promise<void> {
    if (this.inflight) await this.inflight;
    if (this.failure) throw this.failure;
    const events = this.takeBuffered();
    events.push({ ...ev, ms: Date.now() - this.acceptedAt });
    await this.appendWithRetry(events);
  }

  private takeBuffered(): NewEvent[] {
    if (this.count === 0) return [];
    const ev: NewEvent = { kind: 'token', text: this.text, tokens: this.count, ms: this.ms };
    this.text = '';
    this.count = 0;
    this.ms = [];
    return [ev];
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.count > 0) await this.appendWithRetry(this.takeBuffered());
    } catch (err) {
      this.failure = err;
    } finally {
      this.inflight = null;
    }
  }

  private async appendWithRetry(events: NewEvent[]): Promise<void> {
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
