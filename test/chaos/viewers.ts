import { setTimeout as sleep } from 'node:timers/promises';
import { EventSource } from 'eventsource';
import { createParser } from 'eventsource-parser';
import { RetryBudgetExceededError, TokencastClient } from '../../packages/client/src/index.js';
import { chunkText } from '../support/sse.js';

/**
 * The two kinds of viewer the chaos suite runs, each watching one generation through nginx until
 * its end, however often the connection breaks:
 *   - `eventsource`: the npm package a browser-like app uses; it reconnects by itself with
 *     Last-Event-ID; when it gives up (a non-200 answer such as 503 while Redis restarts) the
 *     app opens a new one with ?from= its last offset, as test/cluster/watch.ts does;
 *   - `sdk`: the project's TokencastClient.stream(id), which resumes by itself; when an outage
 *     outlasts its retry budget, the app streams again from its last offset.
 * Both record what reached the application (offsets, text, terminal events, the longest wait for
 * the next event) and, below the client, every HTTP connection: the offset it asked to resume
 * after and the offsets the edge sent on it. The SDK drops a replayed offset silently, so only the
 * wire record shows whether an edge ever sent an event twice or skipped one.
 */
export type ViewerKind = 'eventsource' | 'sdk';

export interface Connection {
  /** The offset the client asked to resume after (Last-Event-ID, else ?from=, else 0). */
  from: number;
  status: number;
  /** X-Tokencast-Edge, set by nginx: the edge that served it. */
  edge: string | null;
  /** The `id:` of every frame group the edge sent on this connection, in order. */
  offsets: number[];
}

export interface Terminal {
  offset: number;
  status: 'completed' | 'cancelled' | 'failed';
  code: string | null;
}

export interface ViewerResult {
  kind: ViewerKind;
  /** Offsets handed to the application: tokens and the end, in order (a repeat shows here for eventsource). */
  delivered: number[];
  text: string;
  /** Terminal events handed to the application: exactly one, `completed`, is right. */
  terminals: Terminal[];
  /** The stream ended properly ([DONE] for eventsource, a done event for the SDK). */
  done: boolean;
  /** Why the viewer stopped without its end: the client gave up, a protocol error, or the run's deadline. */
  failure: string | null;
  /** The run's deadline came before the end. */
  hung: boolean;
  connections: Connection[];
  /** Times the client gave up (an EventSource on a non-200, the SDK past its retry budget) and the app started it again from its last offset. */
  reopens: number;
  /** Longest time, ms, from the viewer's start or its previous event to its next event (or to the deadline). */
  maxWaitMs: number;
}

export interface Viewer {
  result: ViewerResult;
  /** Resolves when the viewer is done, failed, or gave up at the deadline; never rejects. */
  finished: Promise<ViewerResult>;
}

export interface ViewerOptions {
  /** Aborted at the run's deadline: a viewer still waiting is hung. */
  deadline: AbortSignal;
  /** Delay before the app starts a client again after it gave up, ms. */
  reopenAfterMs?: number;
  /** sdk: reconnect when the edge sent nothing, not even a heartbeat, for this long, ms. */
  idleTimeoutMs?: number;
}

/** A fetch that records the connection and the `id:`s on the wire, passing the body through untouched. */
function observedFetch(connections: Connection[]): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const res = await fetch(input, init);
    if (!new URL(url).pathname.endsWith('/events')) return res;
    const headers = new Headers(init?.headers);
    const from = headers.get('last-event-id') ?? new URL(url).searchParams.get('from') ?? '0';
    const conn: Connection = { from: Number(from), status: res.status, edge: res.headers.get('x-tokencast-edge'), offsets: [] };
    connections.push(conn);
    if (!res.body) return res;
    const parser = createParser({
      onEvent(m) {
        if (m.id) conn.offsets.push(Number(m.id));
      },
    });
    const decoder = new TextDecoder();
    const body = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          parser.feed(decoder.decode(chunk, { stream: true }));
          out.enqueue(chunk);
        },
      }),
    );
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

function newResult(kind: ViewerKind): ViewerResult {
  return { kind, delivered: [], text: '', terminals: [], done: false, failure: null, hung: false, connections: [], reopens: 0, maxWaitMs: 0 };
}

/** Measures the longest wait between events, ending at the last event or at the deadline. */
function waitClock(r: ViewerResult): { tick(): void; stop(): void } {
  let last = performance.now();
  return {
    tick() {
      const now = performance.now();
      r.maxWaitMs = Math.max(r.maxWaitMs, Math.round(now - last));
      last = now;
    },
    stop() {
      r.maxWaitMs = Math.max(r.maxWaitMs, Math.round(performance.now() - last));
    },
  };
}

export function eventSourceViewer(eventsUrl: string, opts: ViewerOptions): Viewer {
  const r = newResult('eventsource');
  const clock = waitClock(r);
  const fetchImpl = observedFetch(r.connections);
  let es: EventSource | null = null;
  let settle!: () => void;
  const finished = new Promise<ViewerResult>((resolve) => {
    settle = () => resolve(r);
  });
  let over = false;
  const finish = () => {
    if (over) return;
    over = true;
    es?.close();
    opts.deadline.removeEventListener('abort', onDeadline);
    clock.stop();
    settle();
  };
  const onDeadline = () => {
    r.hung = true;
    r.failure ??= 'deadline';
    finish();
  };
  opts.deadline.addEventListener('abort', onDeadline, { once: true });

  const open = (from: number | null) => {
    if (over) return;
    const source = new EventSource(from === null ? eventsUrl : `${eventsUrl}${eventsUrl.includes('?') ? '&' : '?'}from=${from}`, { fetch: fetchImpl });
    es = source;
    source.onmessage = (ev) => {
      if (ev.data === '[DONE]') {
        r.done = true;
        clock.tick();
        finish();
        return;
      }
      let parsed: { error?: { code?: string }; choices?: { finish_reason?: string | null }[] };
      try {
        parsed = JSON.parse(ev.data) as typeof parsed;
      } catch {
        r.failure = `not JSON: ${ev.data.slice(0, 80)}`;
        finish();
        return;
      }
      // Only a token chunk and the first frame of the end group carry an offset; the usage
      // chunk after the end reports the end's lastEventId again.
      if (Array.isArray(parsed.choices) && parsed.choices.length === 0) return;
      const offset = Number(ev.lastEventId);
      clock.tick();
      r.delivered.push(offset);
      if (parsed.error) {
        r.terminals.push({ offset, status: 'failed', code: parsed.error.code ?? null });
        return;
      }
      const finishReason = parsed.choices?.[0]?.finish_reason;
      if (finishReason) r.terminals.push({ offset, status: finishReason === 'cancelled' ? 'cancelled' : 'completed', code: null });
      else r.text += chunkText(ev.data);
    };
    source.onerror = () => {
      // CONNECTING: it reconnects by itself with Last-Event-ID. CLOSED: it gave up on a non-200.
      if (source.readyState !== source.CLOSED || over) return;
      r.reopens++;
      setTimeout(() => open(r.delivered.at(-1) ?? 0), opts.reopenAfterMs ?? 500).unref();
    };
  };
  open(null);
  return { result: r, finished };
}

export function sdkViewer(baseUrl: string, id: string, opts: ViewerOptions): Viewer {
  const r = newResult('sdk');
  const clock = waitClock(r);
  const ac = new AbortController();
  const onDeadline = () => {
    r.hung = true;
    ac.abort(new Error('deadline'));
  };
  opts.deadline.addEventListener('abort', onDeadline, { once: true });
  const client = new TokencastClient({ baseUrl, fetch: observedFetch(r.connections), idleTimeoutMs: opts.idleTimeoutMs ?? 10_000 });
  const finished = (async () => {
    // The SDK resumes by itself, within its retry budget; when an outage outlasts that budget it
    // throws RetryBudgetExceededError, and the app starts a new stream after the last token it has.
    let from = 0;
    try {
      for (;;) {
        try {
          for await (const ev of client.stream(id, { signal: ac.signal, from })) {
            clock.tick();
            r.delivered.push(ev.offset ?? -1);
            if (ev.type === 'token') {
              r.text += ev.text;
              from = ev.offset;
            } else if (ev.type === 'done') {
              r.terminals.push({ offset: ev.offset, status: ev.status, code: null });
              r.done = true;
            } else r.terminals.push({ offset: ev.offset ?? -1, status: 'failed', code: ev.code });
          }
          return r;
        } catch (err) {
          if (!(err instanceof RetryBudgetExceededError) || ac.signal.aborted) throw err;
          r.reopens++;
          await sleep(opts.reopenAfterMs ?? 500, undefined, { signal: ac.signal });
        }
      }
    } catch (err) {
      r.failure = r.hung ? 'deadline' : `${(err as Error).name}: ${(err as Error).message}`;
    } finally {
      opts.deadline.removeEventListener('abort', onDeadline);
      clock.stop();
    }
    return r;
  })();
  return { result: r, finished };
}
