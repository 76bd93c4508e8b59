import type { GenerationStore } from '@tokencast/engine';
import {
  AFTER_END_FRAME,
  anthropicMessage,
  completeResponse,
  type GenerationMeta,
  InvalidRequestError,
  NotFoundError,
  offsetOfSequence,
  responseObject,
  SEQUENCE_STRIDE,
  TokencastError,
  wireContext,
} from '@tokencast/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Access, Principal } from './access/access.js';
import type { Limits } from './access/limits.js';
import type { EdgeConfig } from './config.js';
import { attachHttpViewer } from './fanout/attach.js';
import { CollectorSink } from './fanout/collector.js';
import type { Hub } from './fanout/hub.js';
import { startSse } from './fanout/sse-response.js';
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

/** The caller and the generation's meta if `may` lets the caller at it; the same 404 as an unknown id otherwise. */
async function permitted(req: FastifyRequest, deps: StreamDeps, id: string, may: 'canWatch' | 'canCancel'): Promise<{ principal: Principal; meta: GenerationMeta }> {
  const principal = await deps.access.identify(req);
  deps.access.requireAny(principal);
  const meta = await deps.store.getMeta(id);
  if (!meta || !deps.access[may](principal, meta)) throw generationNotFound();
  return { principal, meta };
}

/** The generation's meta if the caller may see it; the same 404 as an unknown id otherwise. */
export function visibleGeneration(req: FastifyRequest, deps: StreamDeps, id: string): Promise<{ principal: Principal; meta: GenerationMeta }> {
  return permitted(req, deps, id, 'canWatch');
}

/** Ask for a generation's cancel if the caller may cancel it (the same 404 otherwise). */
export async function cancelGeneration(req: FastifyRequest, deps: StreamDeps, id: string): Promise<{ meta: GenerationMeta; requested: boolean }> {
  const { meta } = await permitted(req, deps, id, 'canCancel');
  const requested = await deps.store.requestCancel(id);
  req.log.info({ gen: id, requested }, 'cancel');
  return { meta, requested };
}

/** A viewer's wire format: null means the format the generation was created with. */
export type WireFormat = 'openai' | 'anthropic' | 'responses';

/**
 * Serve generation `id` as SSE from after offset `from`: replay, then live, then the end.
 * A Responses viewer always replays from offset 1 (its encoder needs the whole output for its
 * `.done` events) and drops the frames numbered ≤ `startingAfter`.
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
  format: WireFormat | null = null,
  includeTimings: boolean | null = null,
  /** Responses viewers only: the last sequence_number the client has (-1: none; then `from`, an offset, counts). */
  startingAfter = -1,
  /** A stream slot the caller reserved already (accept()); null: take one here. Given back on every path. */
  reserved: (() => void) | null = null,
): Promise<void> {
  const { store, config } = deps;
  const attached = await attachHttpViewer(deps, req, reply, {
    id,
    principal,
    reserved,
    notFound: generationNotFound,
    check: async (ch) => {
      if ((format ?? ch.api) === 'responses') {
        // ?from=<offset> on the generic route: everything of that event and before was seen.
        if (startingAfter < 0 && from > 0) startingAfter = from * SEQUENCE_STRIDE + SEQUENCE_STRIDE - 1;
        from = 0;
        const seen = offsetOfSequence(startingAfter);
        if (seen > ch.lastOffset) {
          const last = (await store.getMeta(id))?.lastOffset ?? ch.lastOffset;
          if (seen > last)
            throw new InvalidRequestError(`starting_after ${startingAfter} is beyond the newest event of this response`, 'offset_out_of_range', { param: 'starting_after' });
        }
      }
      if (from > ch.lastOffset) {
        // The channel may lag the store (another edge served this client further): ask the store.
        const meta = await store.getMeta(id);
        const last = meta?.lastOffset ?? ch.lastOffset;
        if (from > last) throw new InvalidRequestError(`offset ${from} is beyond the newest event (${last})`, 'offset_out_of_range', { param: 'Last-Event-ID' });
      }
      return true;
    },
    open: (ch, leave) => {
      const wire = format ?? ch.api;
      const res = startSse(reply, { contentType: 'text/event-stream; charset=utf-8', headers: { 'x-generation-id': id } });
      if (ch.ended && from >= ch.lastOffset) {
        res.end(wire === 'openai' ? AFTER_END_FRAME : '');
        return null;
      }
      return new SseSink(res, ch, from, {
        stallTimeoutMs: config.stallTimeoutMs,
        includeUsage,
        includeTimings,
        format: wire,
        startingAfter,
        onClose: leave,
      });
    },
  });
  if (attached) req.log.debug({ gen: id, from }, 'viewer attached');
}

/** Wait for the generation to end and answer with the whole OpenAI response. */
export async function collectResponse(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: StreamDeps,
  principal: Principal,
  id: string,
  format: WireFormat = 'openai',
  /** A stream slot the caller reserved already (accept()); null: take one here. */
  reserved: (() => void) | null = null,
): Promise<unknown> {
  let collector: CollectorSink | null = null;
  const onClose = () => collector?.abandon();
  const attached = await attachHttpViewer(deps, req, reply, {
    id,
    principal,
    reserved,
    notFound: generationNotFound,
    open: (_ch, leave) => {
      collector = new CollectorSink();
      // However the wait ends (the end event, a failure, the client leaving), the slot goes back.
      collector.done.then(leave, leave);
      reply.raw.once('close', onClose);
      return collector;
    },
  });
  if (!attached) return undefined; // the client left while the channel loaded: nobody to answer
  const { ch, sink } = attached;
  let end: Awaited<CollectorSink['done']>;
  try {
    end = await sink.done;
  } finally {
    reply.raw.off('close', onClose);
  }
  if (format === 'responses') {
    // A failed response is a Response object with status "failed", as OpenAI answers it.
    return responseObject(ch.responses, end.status, [...sink.events, end]);
  }
  if (end.status === 'failed') {
    const e = end.error ?? { code: 'generation_failed', message: 'the generation failed' };
    // The request asked for what its upstream cannot carry (nothing was sent to it): the caller's to fix.
    if (e.code === 'unsupported_by_upstream') throw new TokencastError(400, 'invalid_request_error', e.code, e.message);
    throw new TokencastError(502, 'server_error', e.code, e.message);
  }
  if (format === 'anthropic') return anthropicMessage({ id, model: ch.ctx.model, inputTokens: end.usage.prompt_tokens }, sink.events, end);
  const meta = await deps.store.getMeta(id);
  const ctx = meta ? wireContext(meta) : ch.ctx;
  return completeResponse(ctx, sink.events, end);
}
