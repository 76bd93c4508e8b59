import { describeGeneration, eventsPath, isGenerationId, isTerminalStatus, parseChatRequest, parseCompletionRequest, parseOffset, type RequestLimits } from '@tokencast/protocol';
import { idParams, offsetQueryParam, type RoutePlugin, resumeHeaders, tokenQueryParam } from '../plugins/schemas.js';
import { cancelGeneration, generationNotFound, streamSse, visibleGeneration } from '../stream.js';
import { accept, objectBody } from './completions.js';
import { startingAfter } from './responses.js';

/**
 * GET /v1/generations/:id of a running generation computes its timings from at most this many
 * events (its first ones); an ended one reads only its end event, which carries the timings the
 * producer computed once. Bounded work per request: the route is no amplifier.
 */
const RUNNING_TIMING_EVENTS = 1_024;

function idParam(id: string): string {
  if (!isGenerationId(id)) throw generationNotFound();
  return id;
}

/** GET /v1/generations/:id/events?from&format&include_usage&include_timings&starting_after&token */
const eventsQuery = {
  type: 'object',
  properties: {
    from: offsetQueryParam('from'),
    /** Responses viewers resume by sequence number (as on GET /v1/responses/:id). */
    starting_after: offsetQueryParam('starting_after'),
    /** Absent: the format the generation was created with. */
    format: { type: 'string', enum: ['openai', 'anthropic', 'responses'], errorMessage: 'format must be "openai", "anthropic" or "responses"' },
    /** true|1, false|0; anything else: the request's own stream_options. */
    include_usage: { type: 'string' },
    include_timings: { type: 'string' },
    token: tokenQueryParam,
  },
} as const;

/** The offset a viewer resumes after: Last-Event-ID (a reconnecting EventSource) wins over ?from. */
function resumeOffset(lastEventId: string | undefined, from: string | undefined): number {
  if (lastEventId !== undefined) return parseOffset(lastEventId, 'Last-Event-ID');
  if (from === undefined) return 0;
  return parseOffset(from, 'from');
}

/** A lenient boolean flag: true|1, false|0; anything else (or absent): null. */
function boolParam(v: string | undefined): boolean | null {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return null;
}

/** Submit now, watch from anywhere: /v1/generations and its events. */
const generationRoutes: RoutePlugin = async (app) => {
  // Same body as chat completions; a body with `prompt` and no `messages` is a completion.
  const parseAny = (body: unknown, limits: RequestLimits) =>
    body && typeof body === 'object' && !('messages' in body) && 'prompt' in body ? parseCompletionRequest(body, limits) : parseChatRequest(body, limits);

  app.post('/v1/generations', { schema: { body: objectBody } }, async (req, reply) => {
    const { meta } = await accept(req, app, parseAny, false);
    reply.code(202).header('x-generation-id', meta.id).header('location', `/v1/generations/${meta.id}`);
    const out: Record<string, unknown> = { id: meta.id, object: 'generation', status: meta.status, model: meta.model, created_at: meta.createdAt, events_url: eventsPath(meta.id) };
    if (app.access.enabled) out.read_token = app.access.tokens.issue(meta.id);
    return out;
  });

  app.get('/v1/generations/:id', { schema: { params: idParams, querystring: { type: 'object', properties: { token: tokenQueryParam } } } }, async (req, reply) => {
    const id = idParam(req.params.id);
    const { principal, meta } = await visibleGeneration(req, app, id);
    // Reads count toward the caller's rate like everything else it asks of the store.
    await app.limits.checkRate(principal.kind === 'key' ? `key:${principal.name}` : `ip:${req.ip}`);
    reply.header('x-generation-id', id);
    if (isTerminalStatus(meta.status) && meta.lastOffset > 0) {
      const [end] = await app.store.readEvents(id, meta.lastOffset - 1, 1);
      if (end?.kind === 'end' && end.timings) return describeGeneration(meta, [], end.timings);
    }
    const events = await app.store.readEvents(id, 0, RUNNING_TIMING_EVENTS);
    const tokenMs = events.flatMap((e) => (e.kind === 'end' || e.kind === 'tool_call' ? [] : e.ms));
    return describeGeneration(meta, tokenMs);
  });

  app.get('/v1/generations/:id/events', { schema: { params: idParams, querystring: eventsQuery, headers: resumeHeaders } }, async (req, reply) => {
    const id = idParam(req.params.id);
    const { query } = req;
    const lastEventId = req.headers['last-event-id'];
    const from = resumeOffset(lastEventId, query.from);
    const principal = await app.access.identify(req);
    app.access.requireAny(principal);
    // Responses viewers resume by sequence number (?starting_after, or Last-Event-ID: their ids are sequence numbers).
    const after = startingAfter(query.starting_after, lastEventId);
    await streamSse(req, reply, app, principal, id, from, boolParam(query.include_usage), query.format ?? null, boolParam(query.include_timings), after);
  });

  for (const [method, url] of [
    ['DELETE', '/v1/generations/:id'],
    ['POST', '/v1/generations/:id/cancel'],
  ] as const) {
    app.route({
      method,
      url,
      schema: { params: idParams },
      handler: async (req) => {
        const id = idParam(req.params.id);
        const { meta, requested } = await cancelGeneration(req, app, id);
        return { id, object: 'generation', status: requested ? 'cancelling' : meta.status, cancel_requested: requested };
      },
    });
  }
};

export default generationRoutes;
