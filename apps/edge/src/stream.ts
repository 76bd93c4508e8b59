import type { GenerationStore } from '@tokencast/engine';
import { AFTER_END_FRAME, anthropicMessage, completeResponse, InvalidRequestError, NotFoundError, TokencastError, wireContext } from '@tokencast/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Access, Principal } from './access/access.js';
import type { Limits } from './access/limits.js';
import type { EdgeConfig } from './config.js';
import { CollectorSink } from './fanout/collector.js';
import type { Hub } from './fanout/hub.js';
import { SseSink } from './fanout/sse-sink.js';

export interface StreamDeps {
  hub: Hub;
  store: GenerationStore;
  config: EdgeConfig;
  access: Access;
  limits: Limits;
}

/** Unknown, expired, malformed and forbidden ids all get this same answer: ids reveal nothing. */
export function generationNotFound(): NotFoundError {
  return new NotFoundError('No generation with that id', 'generation_not_found', { param: 'id' });
}

/** The subject a stream is counted against per key; null for read-token and anonymous viewers. */
export function keySubject(p: Principal): string | null {
  return p.kind === 'key' ? p.name : null;
}

/**
 * Response headers of every SSE stream; X-Accel-Buffering stops any nginx from buffering it.
 * No Connection header: Node sets it from the request, and closes the socket after the end when
 * the client asked for `Connection: close` (a forced keep-alive would leave that socket open).
 */
function sseHeaders(id: string): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    'x-generation-id': id,
  };
}

/**
 * Serve generation `id` as SSE from after offset `from`: replay, then live, then the end.
 * Everything that can fail with a status (unknown id, offset out of range) fails before the
 * headers go out; after that the response is ours (hijacked) and ends with a terminal event,
 * a `retry:` hint, or the client leaving.
 */
export async function streamSse(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: StreamDeps,
  principal: Principal,
  id: string,
  from: number,
  includeUsage: boolean | null,
  /** null: the format the generation was created with. */
  format: 'openai' | 'anthropic' | null = null,
  includeTimings: boolean | null = null,
): Promise<void> {
  const { hub, store, config } = deps;
  let ch: Awaited<ReturnType<Hub['acquire']>>;
  try {
    ch = await hub.acquire(id);
  } catch (err) {
    throw err instanceof NotFoundError ? generationNotFound() : err;
  }
  let release: () => void;
  try {
    if (!deps.access.canWatch(principal, { id, owner: ch.owner })) throw generationNotFound();
    if (from > ch.lastOffset) {
      // The channel may lag the store (another edge served this client further): ask the store.
      const meta = await store.getMeta(id);
      const last = meta?.lastOffset ?? ch.lastOffset;
      if (from > last) throw new InvalidRequestError(`offset ${from} is beyond the newest event (${last})`, 'offset_out_of_range', { param: 'Last-Event-ID' });
    }
    release = deps.limits.openStream(keySubject(principal), req.ip);
  } catch (err) {
    // Nothing attached: give the channel back, or it would be followed forever.
    hub.release(ch);
    throw err;
  }
  reply.hijack();
  const res = reply.raw;
  // setHeader (not writeHead's argument) so the request log line can read the generation id.
  for (const [k, v] of Object.entries(sseHeaders(id))) res.setHeader(k, v);
  res.writeHead(200);
  res.flushHeaders();
  const wire = format ?? ch.api;
  if (res.destroyed) {
    // The client left while we awaited the store: its 'close' has fired already, so no sink
    // would ever hear it. Give everything back now.
    release();
    hub.release(ch);
    return;
  }
  if (ch.ended && from >= ch.lastOffset) {
    release();
    hub.release(ch);
    res.end(wire === 'openai' ? AFTER_END_FRAME : '');
    return;
  }
  const sink = new SseSink(res, ch, from, {
    stallTimeoutMs: config.stallTimeoutMs,
    includeUsage,
    includeTimings,
    format: wire,
    onClose: (s) => {
      release();
      hub.detach(ch, s);
    },
  });
  req.log.debug({ gen: id, from }, 'viewer attached');
  hub.attach(ch, sink);
}

/** Wait for the generation to end and answer with the whole OpenAI response. */
export async function collectResponse(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: StreamDeps,
  principal: Principal,
  id: string,
  format: 'openai' | 'anthropic' = 'openai',
): Promise<unknown> {
  const release = deps.limits.openStream(keySubject(principal), req.ip);
  const ch = await deps.hub.acquire(id).catch((err) => {
    release();
    throw err;
  });
  const sink = new CollectorSink();
  const onClose = () => {
    sink.abandon();
    deps.hub.detach(ch, sink);
  };
  reply.raw.once('close', onClose);
  deps.hub.attach(ch, sink);
  let end: Awaited<CollectorSink['done']>;
  try {
    end = await sink.done;
  } finally {
    release();
    reply.raw.off('close', onClose);
    deps.hub.detach(ch, sink);
  }
  if (end.status === 'failed') {
    const e = end.error ?? { code: 'generation_failed', message: 'the generation failed' };
    throw new TokencastError(502, 'server_error', e.code, e.message);
  }
  if (format === 'anthropic') return anthropicMessage({ id, model: ch.ctx.model, inputTokens: end.usage.prompt_tokens }, sink.events, end);
  const meta = await deps.store.getMeta(id);
  const ctx = meta ? wireContext(meta) : ch.ctx;
  return completeResponse(ctx, sink.events, end);
}
