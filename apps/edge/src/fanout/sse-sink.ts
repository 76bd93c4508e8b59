import type { ServerResponse } from 'node:http';
import { AFTER_END_FRAME, encodeSseEvent, ResponsesEncoder, SEQUENCE_STRIDE } from '@tokencast/protocol';
import type { Channel } from './channel.js';
import type { Entry, Sink } from './sink.js';

export interface SseSinkOptions {
  /** A viewer whose socket has not drained for this long is disconnected (it can resume), ms. */
  stallTimeoutMs: number;
  /** Whether this viewer wants the usage chunk before [DONE]; null: as the generation was created. */
  includeUsage: boolean | null;
  /** Whether this viewer wants the timing summary before [DONE]; null: as the generation was created. */
  includeTimings: boolean | null;
  /** Wire format of this viewer's events. */
  format: 'openai' | 'anthropic' | 'responses';
  /** Responses viewers: frames numbered ≤ this were seen already (-1: none). */
  startingAfter?: number;
  /** Called once when the response is over, whatever the reason. */
  onClose: (sink: SseSink) => void;
}

/**
 * One SSE response. Writes whole frame groups only, so a heartbeat can never land inside an
 * event. When the socket stops draining (write() returns false) the sink pauses: the channel
 * stops pushing, the generation's stream in the store is the buffer, and on 'drain' the viewer
 * catches up in a few large writes. A viewer stalled past stallTimeoutMs is cut off and may
 * come back with Last-Event-ID.
 */
export class SseSink implements Sink {
  cursor: number;
  closed = false;
  paused = false;
  private resume: (() => void) | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private started = false;
  /** Responses viewers only: their own stateful encoder (it replays from offset 1). */
  private readonly responses: ResponsesEncoder | null;

  constructor(
    private readonly res: ServerResponse,
    private readonly channel: Channel,
    from: number,
    private readonly opts: SseSinkOptions,
  ) {
    this.cursor = from;
    this.responses = opts.format === 'responses' ? new ResponsesEncoder(channel.responses, opts.startingAfter ?? -1) : null;
    res.on('close', this.handleClose);
    res.on('drain', this.handleDrain);
  }

  push(entries: readonly Entry[], joined: Buffer | null): boolean {
    if (this.closed || this.res.writableEnded) return false;
    const last = entries[entries.length - 1] as Entry;
    const ctx = this.channel.ctx;
    let bytes: Buffer | string;
    if (this.responses) {
      // Each viewer keeps its own encoder state (`.done` frames repeat what came before), but the
      // frames of an event are the same for all of them: the first viewer to reach an event
      // encodes it, the others only fold it into their state and send those bytes. Frames this
      // viewer resumed past (starting_after) are encoded for it alone, filtered.
      const enc = this.responses;
      let out = this.started ? '' : enc.preamble();
      for (const e of entries) {
        if (e.ev.offset * SEQUENCE_STRIDE <= enc.startingAfter) out += enc.encode(e.ev);
        else if (e.responses === undefined) out += e.responses = enc.encode(e.ev);
        else {
          enc.fold([e.ev]);
          out += e.responses;
        }
      }
      bytes = out;
    } else if (this.opts.format === 'anthropic') {
      const frames = entries.map((e) => this.channel.anthropicFrame(e));
      if (!this.started) frames.unshift(Buffer.from(this.channel.anthropicPreamble()));
      bytes = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames);
    } else if (last.ev.kind === 'end' && this.wantsVariant()) {
      // This viewer asked for another end variant (usage, timings): re-encode; only the end differs.
      const variant = { ...ctx, includeUsage: this.opts.includeUsage ?? ctx.includeUsage, includeTimings: this.opts.includeTimings ?? ctx.includeTimings === true };
      bytes = entries.map((e) => encodeSseEvent(variant, e.ev)).join('');
    } else {
      bytes = joined ?? (entries.length === 1 ? last.frame : Buffer.concat(entries.map((e) => e.frame)));
    }
    const ok = this.res.write(bytes);
    this.started = true;
    this.cursor = last.ev.offset;
    if (last.ev.kind === 'end') {
      this.end();
      return false;
    }
    if (!ok) this.pause();
    return ok;
  }

  private wantsVariant(): boolean {
    const ctx = this.channel.ctx;
    return (
      (this.opts.includeUsage !== null && this.opts.includeUsage !== ctx.includeUsage) ||
      (this.opts.includeTimings !== null && this.opts.includeTimings !== (ctx.includeTimings === true))
    );
  }

  onResume(cb: () => void): void {
    this.resume = cb;
  }

  /** The viewer resumed after the terminal event: there is nothing left but the end marker. */
  endAfterTerminal(): void {
    if (!this.closed && !this.res.writableEnded) this.end(this.opts.format === 'openai' ? AFTER_END_FRAME : '');
  }

  heartbeat(frame: Buffer): void {
    if (!this.closed && !this.paused && !this.res.writableEnded) this.res.write(frame);
  }

  fail(code: string, message: string, retryable: boolean): void {
    if (this.closed || this.res.writableEnded) return;
    if (retryable) {
      // A passing fault: ask the client to come back shortly with its Last-Event-ID.
      this.end('retry: 1000\n\n');
    } else if (this.responses) {
      // Numbered as the first frame of the event that cannot be sent.
      const body = { type: 'error', sequence_number: (this.cursor + 1) * SEQUENCE_STRIDE, error: { type: 'invalid_request_error', code, message, param: null } };
      this.end(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
    } else if (this.opts.format === 'anthropic') {
      this.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message, code } })}\n\n`);
    } else {
      const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code } });
      this.end(`data: ${body}\n\ndata: [DONE]\n\n`);
    }
  }

  /** Ask the client to reconnect elsewhere (the edge is draining). */
  redirect(retryMs: number): void {
    if (!this.closed && !this.res.writableEnded) this.end(`retry: ${retryMs}\n\n`);
  }

  /**
   * Ends the response. Bytes the socket has not taken yet stay in memory until it drains, which
   * for a client that stopped reading is never: the stall limit applies to that tail as well.
   */
  private end(last?: string): void {
    if (last === undefined) this.res.end();
    else this.res.end(last);
    if (this.res.writableLength > 0 && !this.stallTimer) this.stallTimer = setTimeout(() => this.res.destroy(), this.opts.stallTimeoutMs);
  }

  private pause(): void {
    this.paused = true;
    this.stallTimer = setTimeout(() => this.res.destroy(), this.opts.stallTimeoutMs);
  }

  private readonly handleDrain = (): void => {
    if (!this.paused || this.closed) return;
    this.paused = false;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.resume?.();
  };

  private readonly handleClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.res.off('drain', this.handleDrain);
    this.resume = null;
    this.opts.onClose(this);
  };
}
