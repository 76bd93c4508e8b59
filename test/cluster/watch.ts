import { EventSource } from 'eventsource';
import { chunkText } from '../support/sse.js';

/**
 * One viewer of a generation, as a browser would be: the `eventsource` package, which reconnects
 * by itself with Last-Event-ID when a response ends or breaks. Every connection it makes is
 * recorded (which edge nginx picked, the Last-Event-ID it sent), so a test can tell that a
 * viewer moved and that it resumed where it was.
 */
export interface Connection {
  /** X-Tokencast-Edge from nginx: the edge that served this connection ("a, b" when nginx moved on). */
  edge: string | null;
  status: number;
  lastEventId: string | null;
  /** The URL asked for (a re-opened viewer asks with ?from=). */
  url: string;
}

export interface WatchOptions {
  /** Called on every event with an id, after it is recorded (e.g. to kill something mid-stream). */
  onEvent?: (w: Watcher, id: number) => void;
  /**
   * What an application does when the EventSource gives up (a non-200 answer such as 503 while
   * Redis is down: EventSource does not retry those by itself): open a new one from the last id
   * seen, after this many ms. Unset: a viewer that gives up fails the watch.
   */
  reopenAfterMs?: number;
  /** The whole watch must end within this, ms. */
  timeoutMs?: number;
}

export interface Watcher {
  ids: number[];
  /** data of every event, in order ([DONE] excluded). */
  data: string[];
  text: string;
  done: boolean;
  /** The error payload of the stream's end, if it ended with one (failed generation, generation_lost). */
  error: { code: string; message: string } | null;
  connections: Connection[];
  /** Non-200 answers and other reasons the EventSource gave up (each one re-opened, with reopenAfterMs). */
  failures: string[];
  /** A 4xx answer ends the watch (resolved, done false): the generation is gone or the offset refused. */
  refused: number | null;
  /** Resolves once [DONE] arrived or on a 4xx; rejects on timeout, or when the viewer gives up without reopenAfterMs. */
  finished: Promise<Watcher>;
  close(): void;
}

export function watch(url: string, opts: WatchOptions = {}): Watcher {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let es: EventSource | null = null;
  let settle!: (err: Error | null) => void;
  const w: Watcher = {
    ids: [],
    data: [],
    text: '',
    done: false,
    error: null,
    connections: [],
    failures: [],
    refused: null,
    finished: new Promise<Watcher>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve(w));
    }),
    close() {
      es?.close();
      clearTimeout(timer);
    },
  };
  const finish = (err: Error | null) => {
    w.close();
    settle(err);
  };
  const timer = setTimeout(() => {
    finish(
      new Error(
        `watch timed out after ${timeoutMs} ms: ${w.ids.length} events, last id ${w.ids.at(-1) ?? 'none'}, connections ${JSON.stringify(w.connections)}, failures ${JSON.stringify(w.failures)}`,
      ),
    );
  }, timeoutMs);
  timer.unref();

  let fresh = false;
  const open = (from: number | null) => {
    const target = from === null ? url : `${url}${url.includes('?') ? '&' : '?'}from=${from}`;
    const source = new EventSource(target, {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        const headers = init.headers as Record<string, string>;
        fresh = true;
        w.connections.push({ edge: res.headers.get('x-tokencast-edge'), status: res.status, lastEventId: headers['Last-Event-ID'] ?? null, url: String(input) });
        return res;
      },
    });
    es = source;
    source.onmessage = (ev) => {
      if (ev.data === '[DONE]') {
        w.done = true;
        finish(null);
        return;
      }
      w.data.push(ev.data);
      const parsed = JSON.parse(ev.data) as { error?: { code: string; message: string } };
      if (parsed.error) w.error = { code: parsed.error.code, message: parsed.error.message };
      else w.text += chunkText(ev.data);
      // Only the first frame of an end group carries an id (PROTOCOL.md); the frames after it
      // report the same lastEventId. The first event of a new connection always counts, so an
      // edge that repeats the Last-Event-ID event after a reconnect shows as a duplicate.
      const first = fresh;
      fresh = false;
      if (ev.lastEventId && (first || Number(ev.lastEventId) !== w.ids.at(-1))) {
        w.ids.push(Number(ev.lastEventId));
        opts.onEvent?.(w, Number(ev.lastEventId));
      }
    };
    source.onerror = (ev) => {
      if (source.readyState !== source.CLOSED || w.done) return; // reconnecting by itself
      const code = (ev as { code?: number }).code;
      const why = `${code ?? ''} ${(ev as { message?: string }).message ?? ''}`.trim();
      w.failures.push(why);
      if (code !== undefined && code >= 400 && code < 500) {
        w.refused = code;
        finish(null);
        return;
      }
      if (opts.reopenAfterMs === undefined) {
        finish(new Error(`the viewer gave up: ${why}`));
        return;
      }
      setTimeout(() => {
        if (!w.done) open(w.ids.at(-1) ?? 0);
      }, opts.reopenAfterMs).unref();
    };
  };
  open(null);
  return w;
}

/** The ids a complete stream of `n` events carries: 1 … n, each once, in order. */
export function dense(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
