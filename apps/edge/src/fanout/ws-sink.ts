import type { WebSocket } from 'ws';
import type { Channel } from './channel.js';
import type { Entry, Sink } from './sink.js';

export interface WsSinkOptions {
  /** Pause pushing once the socket buffers more than this many bytes. */
  maxBufferedBytes: number;
  /** A subscription paused this long closes the socket (the client resumes from its offsets), ms. */
  stallTimeoutMs: number;
  onStall: () => void;
  onEnd: (sink: WsSink) => void;
}

/**
 * One generation subscribed on one WebSocket. Same rule as SSE: the socket's bufferedAmount is
 * bounded; past the limit the subscription pauses and catches up from the channel (or the store)
 * once the buffered bytes are written out.
 */
export class WsSink implements Sink {
  cursor: number;
  closed = false;
  private paused = false;
  private resume: (() => void) | null = null;
  private stallTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly socket: WebSocket,
    readonly channel: Channel,
    from: number,
    private readonly opts: WsSinkOptions,
  ) {
    this.cursor = from;
  }

  push(entries: readonly Entry[]): boolean {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return false;
    for (const e of entries) {
      this.socket.send(this.channel.wsMessage(e), this.afterSend);
      this.cursor = e.ev.offset;
      if (e.ev.kind === 'end') {
        this.close();
        return false;
      }
    }
    if (this.socket.bufferedAmount > this.opts.maxBufferedBytes) {
      this.paused = true;
      this.stallTimer ??= setTimeout(() => this.opts.onStall(), this.opts.stallTimeoutMs);
      return false;
    }
    return true;
  }

  onResume(cb: () => void): void {
    this.resume = cb;
  }

  fail(code: string, message: string, retryable: boolean): void {
    if (this.closed) return;
    this.send({ type: 'error', gen: this.channel.id, code, message, retryable });
    this.close();
  }

  redirect(retryMs: number): void {
    if (this.closed) return;
    this.send({ type: 'reconnect', gen: this.channel.id, retry_ms: retryMs, offset: this.cursor });
  }

  /** Forget this subscription (unsubscribed, ended, or socket gone). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.resume = null;
    this.opts.onEnd(this);
  }

  private send(msg: Record<string, unknown>): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(msg));
  }

  /** ws calls this once a message is written to the OS: the moment to resume a paused subscription. */
  private readonly afterSend = (): void => {
    if (!this.paused || this.closed || this.socket.bufferedAmount > this.opts.maxBufferedBytes / 2) return;
    this.paused = false;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.resume?.();
  };
}
