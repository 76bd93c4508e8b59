import { computeTimings, type GenerationMeta, isGenerationId, NotFoundError, parseChatRequest, parseCompletionRequest, parseOffset, type RequestLimits } from '@tokencast/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GenerationService } from '../service.js';
import { type StreamDeps, streamSse } from '../stream.js';

export interface GenerationRoutesDeps extends StreamDeps {
  service: GenerationService;
  limits: RequestLimits;
}

/** Largest number of events read to compute timings for GET /v1/generations/:id. */
const TIMING_EVENTS_LIMIT = 100_000;

/** Unknown, expired and malformed ids all get this same answer: ids reveal nothing. */
function notFound(): NotFoundError {
  return new NotFoundError('No generation with that id', 'generation_not_found', { param: 'id' });
}

function idParam(req: FastifyRequest): string {
  const id = (req.params as { id?: unknown }).id;
  if (!isGenerationId(id)) throw notFound();
  return id;
}

/** The offset a viewer resumes after: Last-Event-ID (a reconnecting EventSource) wins over ?from. */
function resumeOffset(req: FastifyRequest): number {
  const header = req.headers['last-event-id'];
  if (header !== undefined) {
    if (Array.isArray(header)) return parseOffset(header[0] ?? '', 'Last-Event-ID');
    return parseOffset(header, 'Last-Event-ID');
  }
  const from = (req.query as Record<string, unknown>).from;
  if (from === undefined) return 0;
  if (typeof from !== 'string') return parseOffset('', 'from');
  return parseOffset(from, 'from');
}

function includeUsageParam(req: FastifyRequest): boolean | null {
  const v = (req.query as Record<string, unknown>).include_usage;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return null;
}

export function eventsUrl(id: string): string {
  return `/v1/generations/${id}/events`;
}

function describe(meta: GenerationMeta, tokenMs: number[]) {
  return {
    id: meta.id,
    object: 'generation',
    status: meta.status,
    kind: meta.kind,
    model: meta.model,
    created_at: meta.createdAt,
    started_at: meta.startedAt || null,
    first_token_at: meta.firstTokenAt || null,
    completed_at: meta.completedAt || null,
    producer: meta.producer || null,
    last_offset: meta.lastOffset,
    tokens: meta.tokens,
    finish_reason: meta.finishReason,
    usage: meta.usage,
    error: meta.error,
    timings: computeTimings(meta, tokenMs),
    events_url: eventsUrl(meta.id),
  };
}

/** Submit now, watch from anywhere: /v1/generations and its events. */
export async function generationRoutes(app: FastifyInstance, deps: GenerationRoutesDeps): Promise<void> {
  app.post('/v1/generations', async (req, reply) => {
    const body = req.body as Record<string, unknown> | null;
    // Same body as chat completions; a body with `prompt` and no `messages` is a completion.
    const request = body && typeof body === 'object' && !('messages' in body) && 'prompt' in body ? parseCompletionRequest(body, deps.limits) : parseChatRequest(body, deps.limits);
    const meta = await deps.service.submit(request);
    req.log.info({ gen: meta.id, model: meta.model }, 'generation accepted');
    reply.code(202).header('x-generation-id', meta.id).header('location', `/v1/generations/${meta.id}`);
    return { id: meta.id, object: 'generation', status: meta.status, model: meta.model, created_at: meta.createdAt, events_url: eventsUrl(meta.id) };
  });

  app.get('/v1/generations/:id', async (req, reply) => {
    const id = idParam(req);
    const meta = await deps.store.getMeta(id);
    if (!meta) throw notFound();
    const events = await deps.store.readEvents(id, 0, TIMING_EVENTS_LIMIT);
    const tokenMs = events.flatMap((e) => (e.kind === 'token' ? e.ms : []));
    reply.header('x-generation-id', id);
    return describe(meta, tokenMs);
  });

  app.get('/v1/generations/:id/events', async (req, reply) => {
    const id = idParam(req);
    const from = resumeOffset(req);
    try {
      await streamSse(req, reply, deps, id, from, includeUsageParam(req));
    } catch (err) {
      if (err instanceof NotFoundError) throw notFound();
      throw err;
    }
  });

  const cancel = async (req: FastifyRequest) => {
    const id = idParam(req);
    const meta = await deps.store.getMeta(id);
    if (!meta) throw notFound();
    const requested = await deps.store.requestCancel(id);
    req.log.info({ gen: id, requested }, 'cancel');
    return { id, object: 'generation', status: requested ? 'cancelling' : meta.status, cancel_requested: requested };
  };
  app.delete('/v1/generations/:id', cancel);
  app.post('/v1/generations/:id/cancel', cancel);
}
