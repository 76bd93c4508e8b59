import { mockText } from '@tokencast/producer';
import { type GenerationRequest, parseChatRequest, parseCompletionRequest } from '@tokencast/protocol';
import { createParser } from 'eventsource-parser';
import { chunkText } from '../support/sse.js';

/** Shared by the integration suites: request bodies, the reference text, and a careful SSE reader. */
const LIMITS = { maxTokensCap: 1_000_000, maxPromptChars: 1_000_000 };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function chatBody(prompt: string, extra: Record<string, unknown> = {}) {
  return { model: 'mock', messages: [{ role: 'user' as const, content: prompt }], ...extra };
}

/** What the mock writes for this body, as any producer would: the reference text. */
export function reference(body: Record<string, unknown>): ReturnType<typeof mockText> {
  const req: GenerationRequest = 'messages' in body ? parseChatRequest(body, LIMITS) : parseCompletionRequest(body, LIMITS);
  return mockText(req);
}

export async function submit(base: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${base}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export async function meta(base: string, id: string): Promise<Record<string, unknown> & { status: string; last_offset: number }> {
  const res = await fetch(`${base}/v1/generations/${id}`);
  if (!res.ok) throw new Error(`GET meta answered ${res.status}`);
  return (await res.json()) as Record<string, unknown> & { status: string; last_offset: number };
}

export interface Ev {
  /** The offset from `id:`; null for the frames of an end group after the first. */
  id: number | null;
  data: string;
}

export interface Read {
  status: number;
  events: Ev[];
  /** `retry:` values seen (a reconnect hint). */
  retries: number[];
  done: boolean;
  /** How the response ended: 'end' (server closed), 'aborted' (we stopped), 'error'. */
  how: 'end' | 'aborted' | 'error';
  body: string;
}

/**
 * Reads one SSE response to its end. `stopAfter`: abort once this many offsets arrived (a client
 * that drops mid-stream). Keeps every frame, `retry:` hints, and the raw error body for non-SSE answers.
 */
export async function read(url: string, opts: { headers?: Record<string, string>; stopAfter?: number; method?: string; body?: string; signal?: AbortSignal } = {}): Promise<Read> {
  const ac = new AbortController();
  opts.signal?.addEventListener('abort', () => ac.abort());
  const out: Read = { status: 0, events: [], retries: [], done: false, how: 'end', body: '' };
  let res: Response;
  try {
    res = await fetch(url, { method: opts.method ?? 'GET', headers: opts.headers, body: opts.body, signal: ac.signal });
  } catch {
    out.how = 'error';
    return out;
  }
  out.status = res.status;
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    out.body = await res.text().catch(() => '');
    return out;
  }
  let ids = 0;
  const parser = createParser({
    onEvent(ev) {
      out.events.push({ id: ev.id ? Number(ev.id) : null, data: ev.data });
      if (ev.id) ids++;
      if (ev.data === '[DONE]') out.done = true;
    },
    onRetry(ms) {
      out.retries.push(ms);
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (opts.stopAfter !== undefined && ids >= opts.stopAfter) {
        ac.abort();
        out.how = 'aborted';
        break;
      }
    }
  } catch {
    out.how = ac.signal.aborted ? 'aborted' : 'error';
  }
  return out;
}

/** Offsets carried by the events, in order. */
export function offsets(events: readonly Ev[]): number[] {
  return events.flatMap((e) => (e.id === null ? [] : [e.id]));
}

/** Joined content of the OpenAI chunks. */
export function textOf(events: readonly Ev[]): string {
  return events.map((e) => (e.data.startsWith('{"error"') ? '' : chunkText(e.data))).join('');
}

/** The `{"error":…}` payload of a failed stream, if any. */
export function streamError(events: readonly Ev[]): { code: string; message: string } | null {
  const e = events.find((x) => x.data.startsWith('{"error"'));
  return e ? (JSON.parse(e.data) as { error: { code: string; message: string } }).error : null;
}

/** Data chunks that carry a finish_reason: the end of a completed or cancelled stream. */
export function finishes(events: readonly Ev[]): string[] {
  return events.flatMap((e) => {
    if (e.data === '[DONE]' || e.data.startsWith('{"error"')) return [];
    const c = (JSON.parse(e.data) as { choices: { finish_reason: string | null }[] }).choices[0];
    return c?.finish_reason ? [c.finish_reason] : [];
  });
}

/** Asserts offsets are exactly from+1, from+2, … with no gap and no repeat. */
export function contiguous(ids: readonly number[], from: number): boolean {
  return ids.every((id, i) => id === from + i + 1);
}
