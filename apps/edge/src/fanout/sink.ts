import type { StoredEvent } from '@tokencast/protocol';

/** One stored event with its SSE bytes, encoded once per channel and shared by every viewer. */
export interface Entry {
  ev: StoredEvent;
  /** The event's SSE frame group in the channel's default variant. */
  frame: Buffer;
  /** The event's WebSocket message, built on first use and then shared by every WS viewer. */
  ws?: string;
  /** The event as Anthropic SSE frames, built on first use and shared likewise. */
  anthropic?: Buffer;
  /**
   * The event's Responses frames (none dropped), built by the first Responses viewer to reach it
   * and reused by the others: every Responses encoder is in the same state at a given offset.
   */
  responses?: string;
}

/**
 * A consumer of one generation's events: an SSE response, a WebSocket subscription, or the
 * collector behind a non-streaming request. The channel moves `cursor` forward and calls push()
 * with the events right after it; it never skips or repeats one.
 */
export interface Sink {
  /** Offset of the last event pushed (0: none yet). */
  cursor: number;
  /** True once the consumer is gone or finished; the channel then forgets it. */
  readonly closed: boolean;
  /**
   * Take these events (contiguous, first one at cursor+1). `joined` is the concatenation of their
   * frames when the channel already built it for another viewer. Returns false when the consumer
   * cannot take more now: the channel stops pushing and waits for resume().
   */
  push(entries: readonly Entry[], joined: Buffer | null): boolean;
  /** Registers the callback that the sink calls once it can take more again. */
  onResume(cb: () => void): void;
  /** The events after cursor are not retrievable: end the consumer with this error. */
  fail(code: string, message: string, retryable: boolean): void;
  /** Keep an idle connection alive through proxies (sinks without a connection ignore it). */
  heartbeat?(frame: Buffer): void;
  /** The edge is going away: tell the consumer to reconnect elsewhere. */
  redirect?(retryMs: number): void;
}

export function joinFrames(entries: readonly Entry[]): Buffer {
  if (entries.length === 1) return (entries[0] as Entry).frame;
  return Buffer.concat(entries.map((e) => e.frame));
}
