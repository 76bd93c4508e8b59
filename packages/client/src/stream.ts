import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { backoffDelay, DEFAULT_RETRY, hintedDelay, sleep } from './backoff.js';
import { HttpError, httpErrorFrom, ProtocolError, RetryBudgetExceededError, TokencastClientError } from './errors.js';
import { parseFrame } from './frames.js';
import type { DoneEvent, ErrorEvent, Generation, RetryPolicy, StreamEvent, StreamOptions, StreamStats, Usage } from './types.js';

/** What a GenerationStream needs from the client: the HTTP calls, nothing else. */
export interface StreamTransport {
  submit(signal: AbortSignal | undefined): Promise<string>;
  /** GET the events after `offset` (sent as Last-Event-ID). */
  open(id: string, offset: number, signal: AbortSignal): Promise<Response>;
  get(id: string, signal: AbortSignal | undefined): Promise<Generation>;
}

export interface GenerationStreamConfig extends StreamOptions {
  retryDefaults: RetryPolicy;
  /** Reconnect when nothing at all (not even a heartbeat) arrived for this long, ms; 0 = never. */
  idleTimeoutMs: number;
}

/** The connection ended (or went silent) before the generation's end reached us. */
export class ConnectionLostError extends TokencastClientError {
  constructor(message: string) {
    super('connection_lost', message);
  }
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * One generation's events, delivered exactly once and in order however often the connection
 * breaks. Resumption is by offset: every reconnect asks for the events after the last output
 * event (text, reasoning, tool call, arguments piece, refusal) this iterator yielded. The end event counts as delivered only once `[DONE]` arrived, so a cut
 * between the end chunk and its usage chunk replays the whole end group instead of losing usage.
 */
export class GenerationStream implements AsyncIterable<StreamEvent> {
  /** The generation's id; null until stream(request) has submitted it. */
  id: string | null;
  /** Offset of the last output event delivered (or `from` before the first). */
  offset: number;
  /** Connections replaced so far. */
  reconnects = 0;
  private tokenEvents = 0;
  private firstTokenMs: number | null = null;
  private started = false;

  constructor(
    private readonly transport: StreamTransport,
    id: string | null,
    private readonly cfg: GenerationStreamConfig,
  ) {
    this.id = id;
    this.offset = cfg.from ?? 0;
    if (!Number.isSafeInteger(this.offset) || this.offset < 0) throw new RangeError('from must be a non-negative integer offset');
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    if (this.started) throw new TypeError('a GenerationStream can be iterated only once; call stream() again (with from) for another pass');
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<StreamEvent, void, undefined> {
    const t0 = now();
    const stats = (): StreamStats => ({ reconnects: this.reconnects, tokenEvents: this.tokenEvents, firstTokenMs: this.firstTokenMs, durationMs: Math.round(now() - t0) });
    const { signal } = this.cfg;
    const policy: RetryPolicy = { ...this.cfg.retryDefaults, ...this.cfg.retry };
    // Submitting is not retried: a POST whose answer was lost may still have created a generation.
    this.id ??= await this.transport.submit(signal);
    const id = this.id;
    let failures = 0;
    for (;;) {
      signal?.throwIfAborted();
      const ac = new AbortController();
      const unlink = linkAbort(signal, ac);
      let hintMs: number | null = null;
      let reason: unknown = null;
      let progressed = false;
      let idle: ReturnType<typeof setTimeout> | undefined;
      const touch = () => {
        if (this.cfg.idleTimeoutMs <= 0) return;
        clearTimeout(idle);
        idle = setTimeout(() => ac.abort(new ConnectionLostError(`nothing received for ${this.cfg.idleTimeoutMs} ms`)), this.cfg.idleTimeoutMs);
      };
      try {
        touch();
        const res = await this.transport.open(id, this.offset, ac.signal);
        if (!res.ok) {
          const err = await httpErrorFrom(res);
          if (!err.retryable) throw err;
          reason = err;
          hintMs = err.retryAfterMs;
        } else if (!res.body) {
          throw new ProtocolError('the events response has no body');
        } else {
          // Per connection: the end group (end chunk, usage, [DONE]) is replayed whole after a cut.
          let end: { offset: number; finishReason: string | null } | null = null;
          let usage: Usage | null = null;
          const messages: EventSourceMessage[] = [];
          const parser = createParser({
            onEvent: (m) => messages.push(m),
            onRetry: (ms) => {
              hintMs = ms;
            },
          });
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            touch();
            parser.feed(decoder.decode(value, { stream: true }));
            for (const m of messages.splice(0)) {
              const f = parseFrame(m.id, m.data);
              if (f.kind === 'output') {
                // Never twice, never a hole: text, reasoning and every tool call's arguments are
                // exactly the generation's, wherever a connection broke.
                const ev = f.event;
                if (ev.offset <= this.offset) continue;
                if (ev.offset !== this.offset + 1) throw new ProtocolError(`expected offset ${this.offset + 1}, got ${ev.offset}`);
                this.offset = ev.offset;
                this.tokenEvents++;
                this.firstTokenMs ??= Math.round(now() - t0);
                progressed = true;
                // The idle clock measures the server, not a caller that takes its time with an event.
                clearTimeout(idle);
                yield ev;
                touch();
              } else if (f.kind === 'end') {
                end = f;
              } else if (f.kind === 'usage') {
                usage = f.usage;
              } else if (f.kind === 'error') {
                yield { type: 'error', offset: f.offset, code: f.code, message: f.message, stats: stats() };
                return;
              } else if (f.kind === 'done') {
                if (end) {
                  const status = end.finishReason === 'cancelled' ? 'cancelled' : 'completed';
                  yield { type: 'done', offset: end.offset, status, finishReason: end.finishReason, usage, stats: stats() };
                } else {
                  // We resumed at the terminal event itself: the stream is just [DONE]; ask how it ended.
                  yield await this.outcome(id, stats);
                }
                return;
              }
            }
          }
          reason = new ConnectionLostError('the connection ended before the generation did');
        }
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (err instanceof TokencastClientError && !(err instanceof ConnectionLostError) && !(err instanceof HttpError && err.retryable)) throw err;
        // fetch's own failures (TypeError, "terminated", an aborted body after an idle timeout).
        reason = ac.signal.aborted && ac.signal.reason instanceof ConnectionLostError ? ac.signal.reason : err;
      } finally {
        clearTimeout(idle);
        unlink();
        // Also closes the connection when the caller stops iterating early.
        ac.abort();
      }
      if (progressed) failures = 0;
      failures++;
      if (failures > policy.maxAttempts) throw new RetryBudgetExceededError(failures, this.offset, reason);
      const delayMs = hintMs !== null ? hintedDelay(hintMs) : backoffDelay(policy, failures);
      this.reconnects++;
      this.cfg.onReconnect?.({ attempt: failures, delayMs, offset: this.offset, reason });
      await sleep(delayMs, signal);
    }
  }

  private async outcome(id: string, stats: () => StreamStats): Promise<DoneEvent | ErrorEvent> {
    const g = await this.transport.get(id, this.cfg.signal);
    if (g.status === 'completed' || g.status === 'cancelled') {
      return { type: 'done', offset: g.last_offset, status: g.status, finishReason: g.finish_reason, usage: g.usage, stats: stats() };
    }
    if (g.status === 'failed') {
      const e = g.error ?? { code: 'generation_failed', message: 'the generation failed' };
      return { type: 'error', offset: g.last_offset, code: e.code, message: e.message, stats: stats() };
    }
    throw new ProtocolError(`the stream ended but the generation is ${g.status}`);
  }
}

/** Abort `target` when `source` aborts; returns the unlink. (AbortSignal.any is too new for some browsers.) */
function linkAbort(source: AbortSignal | undefined, target: AbortController): () => void {
  if (!source) return () => {};
  if (source.aborted) {
    target.abort(source.reason);
    return () => {};
  }
  const onAbort = () => target.abort(source.reason);
  source.addEventListener('abort', onAbort, { once: true });
  return () => source.removeEventListener('abort', onAbort);
}

export { DEFAULT_RETRY };
