import { type DeltaEvent, type EndEvent, TokencastError } from '@tokencast/protocol';
import type { Entry, Sink } from './sink.js';

/** The sink behind a non-streaming request: gathers every event, settles at the end. */
export class CollectorSink implements Sink {
  cursor = 0;
  closed = false;
  /** Every delta event (text, reasoning, tool calls, refusal), in order. */
  readonly events: DeltaEvent[] = [];
  readonly done: Promise<EndEvent>;
  private settle!: (end: EndEvent) => void;
  private reject!: (err: Error) => void;

  constructor() {
    this.done = new Promise<EndEvent>((resolve, reject) => {
      this.settle = resolve;
      this.reject = reject;
    });
  }

  push(entries: readonly Entry[]): boolean {
    for (const { ev } of entries) {
      this.cursor = ev.offset;
      if (ev.kind !== 'end') this.events.push(ev);
      else {
        this.closed = true;
        this.settle(ev);
        return false;
      }
    }
    return true;
  }

  onResume(): void {}

  fail(code: string, message: string): void {
    this.closed = true;
    this.reject(new TokencastError(503, 'service_unavailable', code, message));
  }

  /** The client went away: stop collecting, and let the waiting handler go. */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.reject(new TokencastError(499, 'invalid_request_error', 'client_closed', 'the client closed the connection'));
  }
}
