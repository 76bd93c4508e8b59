import { DEFAULT_RETRY } from './backoff.js';
import { GenerationFailedError, httpErrorFrom, ProtocolError } from './errors.js';
import { MessageAccumulator } from './message.js';
import { GenerationStream, type StreamTransport } from './stream.js';
import type { CancelResult, ChatResult, Generation, GenerationRequest, Model, OutputEvent, RetryPolicy, StreamOptions, Submitted } from './types.js';

export interface ClientOptions {
  /** Where the edge is, e.g. `http://localhost:8080`. In a browser it defaults to the page's origin. */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer …` on every request; omit for an open edge. */
  apiKey?: string;
  /** Your own fetch (a proxy agent, a test double); defaults to the global one. */
  fetch?: typeof fetch;
  /** Default reconnect policy of every stream (each stream() can override it). */
  retry?: Partial<RetryPolicy>;
  /** Reconnect a stream when nothing, not even a heartbeat, arrived for this long, ms; 0 = never. Default 45 000 (the edge heartbeats every 15 s). */
  idleTimeoutMs?: number;
}

/** Read tokens remembered from submit(), so stream(id) finds them; oldest dropped beyond this. */
const READ_TOKENS_KEPT = 1_000;

/**
 * The tokencast client. Runs unchanged in browsers and Node ≥ 20: it needs fetch, TextDecoder,
 * AbortController and ReadableStream, nothing else.
 *
 *   const tc = new TokencastClient({ baseUrl: 'http://localhost:8080' });
 *   for await (const ev of tc.stream({ model: 'mock', messages: [{ role: 'user', content: 'hi' }] })) {
 *     if (ev.type === 'token') process.stdout.write(ev.text);
 *     else if (ev.type === 'tool_call') console.log(`calling ${ev.name}`);
 *   }
 */
export class TokencastClient {
  readonly baseUrl: string;
  private readonly apiKey: string | null;
  private readonly fetchImpl: typeof fetch;
  private readonly retry: RetryPolicy;
  private readonly idleTimeoutMs: number;
  private readonly readTokens = new Map<string, string>();

  constructor(opts: ClientOptions = {}) {
    const base = opts.baseUrl ?? (globalThis as { location?: { origin?: string } }).location?.origin;
    if (!base) throw new TypeError('baseUrl is required outside a browser');
    this.baseUrl = base.replace(/\/+$/, '');
    this.apiKey = opts.apiKey ?? null;
    // Bound: a bare `fetch` reference called as a method throws "Illegal invocation" in browsers.
    this.fetchImpl = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 45_000;
  }

  /** Queue a generation and return at once with its id (and read token, when the edge issues them). Never retried. */
  async submit(request: GenerationRequest, opts: { signal?: AbortSignal } = {}): Promise<Submitted> {
    const body = await this.json<{ id: string; status: Submitted['status']; model: string; events_url: string; read_token?: string }>(
      'POST',
      '/v1/generations',
      request,
      opts.signal,
    );
    const out: Submitted = { id: body.id, status: body.status, model: body.model, eventsUrl: body.events_url };
    if (typeof body.read_token === 'string') {
      out.readToken = body.read_token;
      this.rememberToken(body.id, body.read_token);
    }
    return out;
  }

  /**
   * The events of a generation (an id), or of a new one (a request, submitted first). Iterate it
   * with `for await`; it reconnects by itself and never yields an offset twice or skips one.
   * Ends after a `done` or `error` event; throws RetryBudgetExceededError when the edge stays
   * unreachable, HttpError for a 4xx (unknown id, bad offset), the signal's reason when aborted.
   */
  stream(idOrRequest: string | GenerationRequest, opts: StreamOptions = {}): GenerationStream {
    const request = typeof idOrRequest === 'string' ? null : idOrRequest;
    const transport: StreamTransport = {
      submit: async (signal) => {
        if (!request) throw new TypeError('nothing to submit');
        return (await this.submit(request, signal ? { signal } : {})).id;
      },
      open: (id, offset, signal) =>
        this.fetchImpl(this.eventsUrl(id, opts.readToken), {
          method: 'GET',
          headers: this.headers(offset > 0 ? { 'last-event-id': String(offset) } : {}),
          signal,
          cache: 'no-store',
        }),
      get: (id, signal) => this.get(id, { ...(signal ? { signal } : {}), ...(opts.readToken ? { readToken: opts.readToken } : {}) }),
    };
    return new GenerationStream(transport, request ? null : (idOrRequest as string), { ...opts, retryDefaults: this.retry, idleTimeoutMs: this.idleTimeoutMs });
  }

  /**
   * Submit, stream to the end, and return the whole answer: text, reasoning, refusal and tool
   * calls with parsed arguments. `onEvent` sees every output event as it arrives. Throws
   * GenerationFailedError when the generation fails.
   */
  async chat(request: GenerationRequest, opts: Omit<StreamOptions, 'from'> & { onToken?: (text: string) => void; onEvent?: (ev: OutputEvent) => void } = {}): Promise<ChatResult> {
    const s = this.stream(request, opts);
    const acc = new MessageAccumulator();
    for await (const ev of s) {
      acc.add(ev);
      if (ev.type === 'done') return { id: s.id as string, ...acc.message(), status: ev.status, finishReason: ev.finishReason, usage: ev.usage, stats: ev.stats };
      if (ev.type === 'error') throw new GenerationFailedError(ev.code, ev.message, acc.text);
      if (ev.type === 'token') opts.onToken?.(ev.text);
      opts.onEvent?.(ev);
    }
    throw new ProtocolError('the stream ended without a terminal event');
  }

  /** Metadata and timings of a generation. HttpError 404 when unknown or expired. */
  get(id: string, opts: { signal?: AbortSignal; readToken?: string } = {}): Promise<Generation> {
    return this.json<Generation>('GET', `/v1/generations/${encodeURIComponent(id)}${this.tokenQuery(id, opts.readToken, '?')}`, undefined, opts.signal);
  }

  /** Ask the producer to stop; watchers then see a `done` with status `cancelled`. */
  cancel(id: string, opts: { signal?: AbortSignal } = {}): Promise<CancelResult> {
    return this.json<CancelResult>('POST', `/v1/generations/${encodeURIComponent(id)}/cancel`, undefined, opts.signal);
  }

  /** Models this deployment serves; an id of `*` means "any name, passed to the upstream". */
  async models(opts: { signal?: AbortSignal } = {}): Promise<Model[]> {
    return (await this.json<{ data: Model[] }>('GET', '/v1/models', undefined, opts.signal)).data;
  }

  /**
   * Absolute URL of a generation's SSE stream (usable with a browser EventSource too). Always the
   * OpenAI chunk format, whatever API created the generation (POST /v1/messages defaults to
   * Anthropic events), with usage.
   */
  eventsUrl(id: string, readToken?: string): string {
    return `${this.baseUrl}/v1/generations/${encodeURIComponent(id)}/events?format=openai&include_usage=true${this.tokenQuery(id, readToken, '&')}`;
  }

  /** `?token=` (the only way an EventSource can authenticate) when a read token is known for id. */
  private tokenQuery(id: string, readToken: string | undefined, sep: '?' | '&'): string {
    const token = readToken ?? this.readTokens.get(id);
    return token ? `${sep}token=${encodeURIComponent(token)}` : '';
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json, text/event-stream', ...extra };
    if (this.apiKey) h.authorization = `Bearer ${this.apiKey}`;
    return h;
  }

  private async json<T>(method: string, path: string, body: unknown, signal: AbortSignal | undefined): Promise<T> {
    const init: RequestInit = { method, headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (signal) init.signal = signal;
    const res = await this.fetchImpl(`${this.baseUrl}${path}`, init);
    if (!res.ok) throw await httpErrorFrom(res);
    return (await res.json()) as T;
  }

  private rememberToken(id: string, token: string): void {
    this.readTokens.set(id, token);
    if (this.readTokens.size > READ_TOKENS_KEPT) {
      const oldest = this.readTokens.keys().next().value;
      if (oldest !== undefined) this.readTokens.delete(oldest);
    }
  }
}
