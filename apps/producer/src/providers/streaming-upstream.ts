import type { GenerationRequest, Usage } from '@tokencast/protocol';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Agent, request } from 'undici';
import { UpstreamError } from './errors.js';
import type { GenerateContext, Provider, ProviderEvent } from './provider.js';

export interface UpstreamOptions {
  /** Base URL; each API says whether it includes the version path (see its provider). */
  baseUrl: string;
  /** The upstream's credential; empty: none is sent. */
  apiKey: string;
  /** TCP + TLS connect, ms. */
  connectTimeoutMs: number;
  /** From sending the request to the first content event (text, reasoning, tool call, refusal), ms. */
  firstTokenTimeoutMs: number;
  /** Longest silence between two pieces of the response body, ms. */
  idleTimeoutMs: number;
  /**
   * Largest SSE event accepted from the upstream, in bytes of its data (issue #14, item 9: one
   * 20 MB "token" must not reach the log). A larger event fails the generation with
   * upstream_event_too_large.
   */
  maxEventBytes: number;
}

/** One streaming HTTP request to an upstream. */
export interface UpstreamRequest {
  /** Appended to the base URL (trailing slashes of the base are dropped). */
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

/** Reads one generation's SSE events, keeping whatever state its wire format needs in between. */
export interface ChunkReader {
  /** Provider events for one SSE event; empty for pings and bookkeeping. Throws UpstreamError. */
  read(ev: EventSourceMessage): ProviderEvent[];
  /** The end event, once the body has ended. Throws UpstreamError when the stream was cut short. */
  end(): Extract<ProviderEvent, { type: 'end' }>;
}

/** Largest error body read from an upstream that refused the request, bytes (it goes to the logs). */
const ERROR_BODY_LIMIT = 4096;

/**
 * The one streaming-upstream base (issue #15, step 5): the request through undici, the timers
 * (connect and idle through the Agent, first token here), linking the caller's abort, SSE
 * parsing with eventsource-parser under a size cap, the capped error body and the mapping of
 * every failure to an UpstreamError. A concrete upstream only builds its request and reads its
 * chunks.
 */
export abstract class StreamingUpstream implements Provider {
  abstract readonly name: string;
  /** An upstream cannot be asked to reproduce the exact same continuation. */
  readonly canResume = false;
  private readonly agent: Agent;

  constructor(protected readonly opts: UpstreamOptions) {
    this.agent = new Agent({ connect: { timeout: opts.connectTimeoutMs }, bodyTimeout: opts.idleTimeoutMs, headersTimeout: opts.firstTokenTimeoutMs });
  }

  /** The request for this generation. Throws UpstreamError('unsupported') for what the API cannot carry. */
  protected abstract buildRequest(req: GenerationRequest): UpstreamRequest;
  /** A fresh reader for one generation's stream. */
  protected abstract createReader(req: GenerationRequest): ChunkReader;

  async *generate(req: GenerationRequest, ctx: GenerateContext): AsyncIterable<ProviderEvent> {
    // Built before anything is sent: what cannot be carried fails here, before any token.
    const { path, headers, body } = this.buildRequest(req);
    const reader = this.createReader(req);
    if (ctx.signal.aborted) return;
    // One controller for the caller's cancel and our own first-token deadline.
    const local = new AbortController();
    const onAbort = () => local.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const firstTokenTimer = setTimeout(
      () => local.abort(new UpstreamError('first_token_timeout', `no content from the upstream within ${this.opts.firstTokenTimeoutMs} ms`)),
      this.opts.firstTokenTimeoutMs,
    );
    let started = false;
    try {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(`${this.opts.baseUrl.replace(/\/+$/, '')}${path}`, {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
          signal: local.signal,
          dispatcher: this.agent,
        });
      } catch (err) {
        if (ctx.signal.aborted) return;
        throw toUpstreamError(err, local.signal.reason);
      }
      if (res.statusCode !== 200) {
        const text = await readCapped(res.body, ERROR_BODY_LIMIT).catch(() => '');
        throw new UpstreamError('status', `upstream answered ${res.statusCode}: ${upstreamMessage(text)}`, { upstreamStatus: res.statusCode });
      }
      const max = this.opts.maxEventBytes;
      const pending: EventSourceMessage[] = [];
      let tooLarge = false;
      // maxBufferSize counts characters of the event being assembled (a char is ≥ 1 byte, so
      // anything over it is over in bytes too); the byte check on each event catches the rest.
      const parser = createParser({
        maxBufferSize: max,
        onEvent: (ev) => pending.push(ev),
        onError: (e) => {
          if (e.type === 'max-buffer-size-exceeded') tooLarge = true;
        },
      });
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body) {
          parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
          if (tooLarge) throw new UpstreamError('event_too_large', `an upstream SSE event exceeded ${max} characters`);
          for (let i = 0; i < pending.length; i++) {
            const ev = pending[i] as EventSourceMessage;
            // Only long events can be over in bytes: skip the byte count on the hot path.
            if (ev.data.length * 3 > max && Buffer.byteLength(ev.data) > max) {
              throw new UpstreamError('event_too_large', `an upstream SSE event of ${Buffer.byteLength(ev.data)} bytes exceeded ${max}`);
            }
            for (const out of reader.read(ev)) {
              if (!started && out.type !== 'end') {
                started = true;
                clearTimeout(firstTokenTimer);
              }
              yield out;
            }
          }
          pending.length = 0;
        }
      } catch (err) {
        if (ctx.signal.aborted) return;
        throw err instanceof UpstreamError ? err : toUpstreamError(err, local.signal.reason);
      }
      yield reader.end();
    } finally {
      clearTimeout(firstTokenTimer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Parses an SSE event's data as a JSON object; anything else is a protocol failure. */
export function jsonData(ev: EventSourceMessage): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(ev.data);
  } catch (cause) {
    throw new UpstreamError('protocol', `the upstream sent an event that is not JSON: ${ev.data.slice(0, 200)}`, { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new UpstreamError('protocol', `the upstream sent an event that is not a JSON object: ${ev.data.slice(0, 200)}`);
  return json as Record<string, unknown>;
}

/** A JSON number that is neither NaN nor ±Infinity (a logprob, say). */
export function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** A token count as clients may see it: a non-negative safe integer, or undefined (issue #14, item 9). */
export function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** Raw token counts as an upstream reported them, before checking. */
export interface ReportedUsage {
  prompt?: unknown;
  completion?: unknown;
  /** Prompt tokens served from a cache (part of prompt). */
  cached?: unknown;
  /** Prompt tokens written to a cache (part of prompt; Anthropic's cache_creation_input_tokens). */
  cacheWrite?: unknown;
  /** Reasoning tokens (part of completion). */
  reasoning?: unknown;
}

/**
 * The upstream's usage with every count checked: counts that are negative, null or not integers
 * are dropped, and the producer counts those itself (issue #14, item 9). null when nothing
 * usable is left.
 */
export function checkedUsage(r: ReportedUsage): Partial<Usage> | null {
  const u: Partial<Usage> = {};
  const p = count(r.prompt);
  const c = count(r.completion);
  const cached = count(r.cached);
  const written = count(r.cacheWrite);
  const reasoning = count(r.reasoning);
  if (p !== undefined) u.prompt_tokens = p;
  if (c !== undefined) u.completion_tokens = c;
  // A detail larger than its total is as wrong as a negative one.
  if (cached !== undefined && (p === undefined || cached <= p)) u.prompt_tokens_details = { cached_tokens: cached };
  if (u.prompt_tokens_details && written !== undefined && (p === undefined || u.prompt_tokens_details.cached_tokens + written <= p))
    u.prompt_tokens_details.cache_write_tokens = written;
  if (reasoning !== undefined && (c === undefined || reasoning <= c)) u.completion_tokens_details = { reasoning_tokens: reasoning };
  return Object.keys(u).length === 0 ? null : u;
}

/** The error message inside an upstream's error body, for the logs. */
export function upstreamMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const m = typeof j.error === 'string' ? j.error : typeof j.error?.message === 'string' ? j.error.message : typeof j.message === 'string' ? j.message : '';
    if (m) return m.slice(0, 500);
  } catch {}
  return text.slice(0, 500) || '(empty body)';
}

function toUpstreamError(err: unknown, reason: unknown): UpstreamError {
  if (reason instanceof UpstreamError) return reason;
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'UND_ERR_BODY_TIMEOUT') return new UpstreamError('idle_timeout', `the upstream went silent mid-stream: ${message}`, { cause: err });
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new UpstreamError('first_token_timeout', `the upstream sent no headers in time: ${message}`, { cause: err });
  return new UpstreamError('connect', `cannot reach the upstream: ${message}`, { cause: err });
}

async function readCapped(body: AsyncIterable<unknown> & { destroy?: () => void }, limit: number): Promise<string> {
  const decoder = new TextDecoder();
  let out = '';
  let bytes = 0;
  for await (const chunk of body) {
    const buf = chunk as Uint8Array;
    bytes += buf.byteLength;
    out += decoder.decode(buf, { stream: true });
    if (bytes >= limit) break;
  }
  body.destroy?.();
  return out.slice(0, limit);
}
