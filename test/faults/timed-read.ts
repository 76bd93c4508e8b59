import { createParser } from 'eventsource-parser';
import type { Ev } from '../integration/helpers.js';

/** An event with the time it arrived (Date.now()). */
export interface TimedEv extends Ev {
  at: number;
}

export interface TimedRead {
  status: number;
  events: TimedEv[];
  /** `retry:` hints seen. */
  retries: number[];
  done: boolean;
  /** The body of a non-SSE answer. */
  body: string;
  /** The response broke (rather than ended). */
  broken: boolean;
}

/**
 * One SSE response to its end, with when each event arrived: the fault tests bound how long a
 * viewer waits, not only what it gets. Same shape as test/integration's `read`.
 */
export async function readTimed(url: string, init: RequestInit = {}): Promise<TimedRead> {
  const out: TimedRead = { status: 0, events: [], retries: [], done: false, body: '', broken: false };
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch {
    out.broken = true;
    return out;
  }
  out.status = res.status;
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream') || !res.body) {
    out.body = await res.text().catch(() => '');
    return out;
  }
  const parser = createParser({
    onEvent: (ev) => {
      out.events.push({ id: ev.id ? Number(ev.id) : null, data: ev.data, at: Date.now() });
      if (ev.data === '[DONE]') out.done = true;
    },
    onRetry: (ms) => void out.retries.push(ms),
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  } catch {
    out.broken = true;
  }
  return out;
}

/** Longest pause between two consecutive events arriving at or after `since`, ms. */
export function longestPause(events: readonly TimedEv[], since = 0): number {
  const times = events.filter((e) => e.at >= since).map((e) => e.at);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, (times[i] as number) - (times[i - 1] as number));
  return gap;
}
