import {
  describeGeneration,
  eventsPath,
  InvalidRequestError,
  isGenerationId,
  isTerminalStatus,
  parseChatRequest,
  parseCompletionRequest,
  parseOffset,
  type RequestLimits,
} from '@tokencast/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { cancelGeneration, generationNotFound, streamSse, visibleGeneration, type WireFormat } from '../stream.js';
import { accept, type SubmitDeps } from './completions.js';
import { startingAfter } from './responses.js';

/**
 * GET /v1/generations/:id of a running generation computes its timings from at most this many
 * events (its first ones); an ended one reads only its end event, which carries the timings the
 * producer computed once. Bounded work per request: the route is no amplifier.
 */
const RUNNING_TIMING_EVENTS = 1_024;

function idParam(req: FastifyRequest): string {
  const id = (req.params as { id?: unknown }).id;
  if (!isGenerationId(id)) throw generationNotFound();
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

/** ?format=openai|anthropic|responses; absent: the format the generation was created with. */
function formatParam(req: FastifyRequest): WireFormat | null {
  const v = (req.query as Record<string, unknown>).format;
  if (v === undefined) return null;
  if (v === 'openai' || v === 'anthropic' || v === 'responses') return v;
  throw new InvalidRequestError('format must be "openai", "anthropic" or "responses"', 'invalid_value', { param: 'format' });
}

function boolParam(req: FastifyRequest, name: string): boolean | null {
  const v = (req.query as Record<string, unknown>)[name];
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return null;
}

/** Submit now, watch from anywhere: /v1/generations and its events. */
export async function generationRoutes(app: FastifyInstance, deps: SubmitDeps): Promise<void> {
  // Same body as chat completions; a body with `prompt` and no `messages` is a completion.
  const parseAny = (body: unknown, limits: RequestLimits) =>
    body && typeof body === 'object' && !('messages' in body) && 'prompt' in body ? parseCompletionRequest(body, limits) : parseChatRequest(body, limits);

  app.post('/v1/generations', async (req, reply) => {
    const { meta } = await accept(req, deps, parseAny, false);
    reply.code(202).header('x-generation-id', meta.id).header('location', `/v1/generations/${meta.id}`);
    const out: Record<string, unknown> = { id: meta.id, object: 'generation', status: meta.status, model: meta.model, created_at: meta.createdAt, events_url: eventsPath(meta.id) };
    if (deps.access.enabled) out.read_token = deps.access.tokens.issue(meta.id);
    return out;
  });

  app.get('/v1/generations/:id', async (req, reply) => {
    const id = idParam(req);
    const { principal, meta } = await visibleGeneration(req, deps, id);
    // Reads count toward the caller's rate like everything else it asks of the store.
    await deps.limits.checkRate(principal.kind === 'key' ? `key:${principal.name}` : `ip:${req.ip}`);
    reply.header('x-generation-id', id);
    if (isTerminalStatus(meta.status) && meta.lastOffset > 0) {
      const [end] = await deps.store.readEvents(id, meta.lastOffset - 1, 1);
      if (end?.kind === 'end' && end.timings) return describeGeneration(meta, [], end.timings);
    }
    const events = await deps.store.readEvents(id, 0, RUNNING_TIMING_EVENTS);
    const tokenMs = events.flatMap((e) => (e.kind === 'end' || e.kind === 'tool_call' ? [] : e.ms));
    return describeGeneration(meta, tokenMs);
  });

  app.get('/v1/generations/:id/events', async (req, reply) => {
    const id = idParam(req);
    const from = resumeOffset(req);
    const principal = await deps.access.identify(req);
    deps.access.requireAny(principal);
    // Responses viewers resume by sequence number (?starting_after, or Last-Event-ID: their ids are sequence numbers).
    const after = startingAfter(req);
    await streamSse(req, reply, deps, principal, id, from, boolParam(req, 'include_usage'), formatParam(req), boolParam(req, 'include_timings'), after);
  });

  const cancel = async (req: FastifyRequest) => {
    const id = idParam(req);
    const { meta, requested } = await cancelGeneration(req, deps, id);
    return { id, object: 'generation', status: requested ? 'cancelling' : meta.status, cancel_requested: requested };
  };
  app.delete('/v1/generations/:id', cancel);
  app.post('/v1/generations/:id/cancel', cancel);
}
