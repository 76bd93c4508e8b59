import type { GenerationRequest, Usage } from '@tokencast/protocol';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Agent, request } from 'undici';
import { UpstreamError } from './errors.js';
import type { GenerateContext, Provider, ProviderEvent } from './provider.js';

export interface AnthropicOptions {
  /** Base URL without the version path, e.g. https://api.anthropic.com */
  baseUrl: string;
  apiKey: string;
  connectTimeoutMs: number;
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
  /** max_tokens sent when the request has none (Anthropic requires one). */
  defaultMaxTokens: number;
}

const STOP: Record<string, 'stop' | 'length' | 'tool_calls'> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
};

/**
 * An Anthropic Messages upstream (its message_start / content_block_delta / message_delta /
 * message_stop / ping / error events). Usage: input tokens from message_start, output tokens
 * from message_delta — both kept even when the stream ends early.
 */
export class AnthropicProvider implements Provider {
  readonly name = 'anthropic';
  readonly canResume = false;
  private readonly agent: Agent;

  constructor(private readonly opts: AnthropicOptions) {
    this.agent = new Agent({ connect: { timeout: opts.connectTimeoutMs }, bodyTimeout: opts.idleTimeoutMs, headersTimeout: opts.firstTokenTimeoutMs });
  }

  async *generate(req: GenerationRequest, ctx: GenerateContext): AsyncIterable<ProviderEvent> {
    const system = req.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => m.content);
    const turns =
      req.kind === 'completion'
        ? [{ role: 'user', content: req.prompt }]
        : req.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => ({ role: m.role, content: m.content }));
    const body: Record<string, unknown> = { model: req.model, max_tokens: req.maxTokens ?? this.opts.defaultMaxTokens, messages: turns, stream: true };
    if (system.length) body.system = system.join('\n');
    if (typeof req.params.temperature === 'number') body.temperature = req.params.temperature;
    if (typeof req.params.top_p === 'number') body.top_p = req.params.top_p;
    if (req.params.stop !== undefined) body.stop_sequences = Array.isArray(req.params.stop) ? req.params.stop : [req.params.stop];
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream', 'anthropic-version': '2023-06-01' };
    if (this.opts.apiKey) headers['x-api-key'] = this.opts.apiKey;

    const local = new AbortController();
    const onAbort = () => local.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const firstTokenTimer = setTimeout(
      () => local.abort(new UpstreamError('first_token_timeout', `no token from the upstream within ${this.opts.firstTokenTimeoutMs} ms`)),
      this.opts.firstTokenTimeoutMs,
    );
    const usage: Partial<Usage> = {};
    let finish: 'stop' | 'length' | 'tool_calls' = 'stop';
    try {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(`${this.opts.baseUrl.replace(/\/+$/, '')}/v1/messages`, {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
          signal: local.signal,
          dispatcher: this.agent,
        });
      } catch (err) {
        if (ctx.signal.aborted) return;
        throw local.signal.reason instanceof UpstreamError ? local.signal.reason : new UpstreamError('connect', `cannot reach the upstream: ${(err as Error).message}`, 0, err);
      }
      if (res.statusCode !== 200) {
        const text = (await res.body.text()).slice(0, 4096);
        throw new UpstreamError('status', `upstream answered ${res.statusCode}: ${text.slice(0, 500)}`, res.statusCode);
      }
      const pending: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (ev) => pending.push(ev) });
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body) {
          parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
          while (pending.length > 0) {
            const ev = pending.shift() as EventSourceMessage;
            let data: Record<string, unknown>;
            try {
              data = JSON.parse(ev.data) as Record<string, unknown>;
            } catch (cause) {
              throw new UpstreamError('protocol', 'the upstream sent an event that is not JSON', 0, cause);
            }
            const type = ev.event ?? (data.type as string | undefined);
            if (type === 'message_start') {
              const u = (data.message as { usage?: { input_tokens?: number } } | undefined)?.usage;
              if (typeof u?.input_tokens === 'number') usage.prompt_tokens = u.input_tokens;
            } else if (type === 'content_block_delta') {
              const d = data.delta as { type?: string; text?: string } | undefined;
              if (d?.type === 'text_delta' && d.text) {
                clearTimeout(firstTokenTimer);
                yield { type: 'text', text: d.text, tokens: 1 };
              }
            } else if (type === 'message_delta') {
              const d = data.delta as { stop_reason?: string } | undefined;
              if (d?.stop_reason) finish = STOP[d.stop_reason] ?? 'stop';
              const u = data.usage as { output_tokens?: number } | undefined;
              if (typeof u?.output_tokens === 'number') usage.completion_tokens = u.output_tokens;
            } else if (type === 'error') {
              const e = data.error as { message?: string } | undefined;
              throw new UpstreamError('model', `the upstream reported an error: ${e?.message ?? 'unknown'}`);
            }
            // ping, content_block_start/stop, message_stop: nothing to do
          }
        }
      } catch (err) {
        if (ctx.signal.aborted) return;
        if (err instanceof UpstreamError) throw err;
        const code = (err as { code?: string }).code;
        if (code === 'UND_ERR_BODY_TIMEOUT') throw new UpstreamError('idle_timeout', 'the upstream went silent mid-stream', 0, err);
        throw local.signal.reason instanceof UpstreamError ? local.signal.reason : new UpstreamError('connect', (err as Error).message, 0, err);
      }
      yield { type: 'end', finishReason: finish, usage };
    } finally {
      clearTimeout(firstTokenTimer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
