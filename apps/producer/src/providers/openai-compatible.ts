import type { GenerationRequest, Usage } from '@tokencast/protocol';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Agent, request } from 'undici';
import { UpstreamError } from './errors.js';
import type { GenerateContext, Provider, ProviderEvent } from './provider.js';

export interface OpenAICompatibleOptions {
  /** Base URL including the version path, as the OpenAI SDK's baseURL: http://host:8000/v1 */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`; empty: no header. */
  apiKey: string;
  connectTimeoutMs: number;
  /** From sending the request to the first token. */
  firstTokenTimeoutMs: number;
  /** Longest silence between two pieces of the response body. */
  idleTimeoutMs: number;
}

/** Largest error body read from an upstream that refused the request. */
const ERROR_BODY_LIMIT = 4096;

/**
 * Any OpenAI-compatible server (llama.cpp server, vLLM, Ollama, OpenAI): a streaming request
 * through undici, parsed with eventsource-parser. Usage comes from the upstream when it sends it
 * (stream_options.include_usage); otherwise the producer counts the tokens itself.
 */
export class OpenAICompatibleProvider implements Provider {
  readonly name = 'openai-compatible';
  /** An upstream cannot be asked to reproduce the exact same continuation. */
  readonly canResume = false;
  private readonly agent: Agent;

  constructor(private readonly opts: OpenAICompatibleOptions) {
    this.agent = new Agent({ connect: { timeout: opts.connectTimeoutMs }, bodyTimeout: opts.idleTimeoutMs, headersTimeout: opts.firstTokenTimeoutMs });
  }

  async *generate(req: GenerationRequest, ctx: GenerateContext): AsyncIterable<ProviderEvent> {
    const base = this.opts.baseUrl.replace(/\/+$/, '');
    const url = `${base}${req.kind === 'chat' ? '/chat/completions' : '/completions'}`;
    const body: Record<string, unknown> = { ...req.params, model: req.model, stream: true, stream_options: { include_usage: true } };
    if (req.kind === 'chat') body.messages = req.messages;
    else body.prompt = req.prompt;
    if (req.maxTokens !== null) body.max_tokens = req.maxTokens;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;

    // One controller for the caller's cancel and our own first-token deadline.
    const local = new AbortController();
    const onAbort = () => local.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let sawToken = false;
    const firstTokenTimer = setTimeout(
      () => local.abort(new UpstreamError('first_token_timeout', `no token from the upstream within ${this.opts.firstTokenTimeoutMs} ms`)),
      this.opts.firstTokenTimeoutMs,
    );
    try {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, { method: 'POST', headers, body: JSON.stringify(body), signal: local.signal, dispatcher: this.agent });
      } catch (err) {
        if (ctx.signal.aborted) return;
        throw toUpstreamError(err, local.signal.reason);
      }
      if (res.statusCode !== 200) {
        const text = await readCapped(res.body, ERROR_BODY_LIMIT);
        throw new UpstreamError('status', `upstream answered ${res.statusCode}: ${upstreamMessage(text)}`, res.statusCode);
      }
      const pending: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (ev) => pending.push(ev) });
      const decoder = new TextDecoder();
      let finishReason: ParsedChunk['finishReason'] = null;
      let usage: Partial<Usage> | null = null;
      try {
        for await (const chunk of res.body) {
          parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
          while (pending.length > 0) {
            const ev = pending.shift() as EventSourceMessage;
            if (ev.data === '[DONE]') continue;
            const parsed = parseChunk(ev.data);
            if (parsed.usage) usage = parsed.usage;
            if (parsed.finishReason) finishReason = parsed.finishReason;
            if (parsed.text) {
              if (!sawToken) {
                sawToken = true;
                clearTimeout(firstTokenTimer);
              }
              yield { type: 'text', text: parsed.text, tokens: 1 };
            }
          }
        }
      } catch (err) {
        if (ctx.signal.aborted) return;
        throw err instanceof UpstreamError ? err : toUpstreamError(err, local.signal.reason);
      }
      yield { type: 'end', finishReason: finishReason ?? 'stop', usage };
    } finally {
      clearTimeout(firstTokenTimer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

interface ParsedChunk {
  text: string;
  finishReason: 'stop' | 'length' | 'content_filter' | 'tool_calls' | null;
  usage: Partial<Usage> | null;
}

function parseChunk(data: string): ParsedChunk {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(data) as Record<string, unknown>;
  } catch (cause) {
    throw new UpstreamError('protocol', 'the upstream sent an event that is not JSON', 0, cause);
  }
  if (json.error) throw new UpstreamError('model', `the upstream reported an error: ${upstreamMessage(JSON.stringify(json))}`);
  const choice = Array.isArray(json.choices) ? (json.choices[0] as Record<string, unknown> | undefined) : undefined;
  const delta = choice?.delta as Record<string, unknown> | undefined;
  const text = typeof delta?.content === 'string' ? delta.content : typeof choice?.text === 'string' ? choice.text : '';
  const fr = choice?.finish_reason;
  const finishReason = fr === 'stop' || fr === 'length' || fr === 'content_filter' || fr === 'tool_calls' ? fr : null;
  const u = json.usage as Partial<Usage> | null | undefined;
  return { text, finishReason, usage: u && typeof u === 'object' ? u : null };
}

function upstreamMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: string } | string };
    const m = typeof j.error === 'string' ? j.error : j.error?.message;
    if (m) return m.slice(0, 500);
  } catch {}
  return text.slice(0, 500) || '(empty body)';
}

function toUpstreamError(err: unknown, reason: unknown): UpstreamError {
  if (reason instanceof UpstreamError) return reason;
  const code = (err as { code?: string }).code;
  if (code === 'UND_ERR_BODY_TIMEOUT') return new UpstreamError('idle_timeout', 'the upstream went silent mid-stream', 0, err);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new UpstreamError('first_token_timeout', 'the upstream did not answer in time', 0, err);
  return new UpstreamError('connect', `cannot reach the upstream: ${(err as Error).message}`, 0, err);
}

async function readCapped(body: AsyncIterable<unknown> & { destroy?: () => void }, limit: number): Promise<string> {
  let out = '';
  for await (const chunk of body) {
    out += String(chunk);
    if (out.length >= limit) break;
  }
  body.destroy?.();
  return out.slice(0, limit);
}
