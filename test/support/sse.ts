import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** A parsed SSE stream as a test sees it: every event with its id, and the joined text. */
export interface SseRead {
  status: number;
  headers: Headers;
  events: EventSourceMessage[];
  /** Concatenated delta content / text of the OpenAI chunks. */
  text: string;
  /** Ids of the events that carried one, as numbers. */
  ids: number[];
  done: boolean;
}

export function chunkText(data: string): string {
  if (data === '[DONE]') return '';
  const j = JSON.parse(data) as { choices?: { delta?: { content?: string }; text?: string }[] };
  const c = j.choices?.[0];
  return c?.delta?.content ?? c?.text ?? '';
}

/**
 * Read an SSE response with fetch. `stopAfter`: abort once this many id-carrying events arrived
 * (a client that drops mid-stream).
 */
export async function readSse(url: string, init: RequestInit & { stopAfter?: number } = {}): Promise<SseRead> {
  const ac = new AbortController();
  const res = await fetch(url, { ...init, signal: ac.signal });
  const out: SseRead = { status: res.status, headers: res.headers, events: [], text: '', ids: [], done: false };
  if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return out;
  const parser = createParser({
    onEvent(ev) {
      out.events.push(ev);
      if (ev.id) out.ids.push(Number(ev.id));
      if (ev.data === '[DONE]') out.done = true;
      else out.text += chunkText(ev.data);
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (init.stopAfter !== undefined && out.ids.length >= init.stopAfter) {
        ac.abort();
        break;
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
  return out;
}
