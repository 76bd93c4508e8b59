import { type GenerationRequest, parseChatRequest, parseCompletionRequest, type RequestLimits } from '@tokencast/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { keySubject, type Principal } from '../access/access.js';
import type { GenerationService } from '../service.js';
import { collectResponse, type StreamDeps, streamSse } from '../stream.js';

export interface SubmitDeps extends StreamDeps {
  service: GenerationService;
  limits: StreamDeps['limits'];
  requestLimits: RequestLimits;
}

/**
 * A route's body parser. `principal`: the authenticated caller, for parsers that read what the
 * caller may see (the Responses API's previous_response_id).
 */
export type RequestParser = (body: unknown, limits: RequestLimits, principal: Principal) => GenerationRequest | Promise<GenerationRequest>;

/**
 * Accept a generation for the caller: authenticate, count the request against the caller's
 * rate, check the queue has room, then store and queue it. Shared by every creating route.
 * `watches`: the response streams or waits for the generation, so it needs a stream slot; that
 * is checked before anything is queued (a refused stream must not leave a model running).
 */
export async function accept(req: FastifyRequest, deps: SubmitDeps, parse: RequestParser, watches = true) {
  const principal = await deps.access.identify(req);
  const owner = deps.access.requireCreator(principal);
  await deps.limits.checkRate(owner ? `key:${owner}` : `ip:${req.ip}`);
  const request = await parse(req.body, deps.requestLimits, principal);
  // Per-key policy for the last viewer leaving; an explicit on_disconnect in the request wins.
  if (owner && request.onDisconnect === undefined && deps.config.cancelOnDisconnectKeys.includes(owner)) request.onDisconnect = 'cancel';
  // The stream slot is taken before any await and handed to the viewer (PITFALLS "Check, await,
  // insert is a race"): a burst cannot all pass a check and then queue generations nobody may watch.
  const slot = watches ? deps.limits.openStream(keySubject(principal), req.ip) : null;
  let meta: Awaited<ReturnType<GenerationService['submit']>>;
  try {
    await deps.limits.checkQueue(deps.service.queueFor(request.model));
    meta = await deps.service.submit(request, owner);
  } catch (err) {
    slot?.();
    throw err;
  }
  req.log.info({ gen: meta.id, model: meta.model, key: owner || undefined, stream: request.stream }, 'generation accepted');
  return { principal, request, meta, slot };
}

/** POST /v1/chat/completions and POST /v1/completions: OpenAI-compatible, streaming or not. */
export async function completionRoutes(app: FastifyInstance, deps: SubmitDeps): Promise<void> {
  const handle = async (req: FastifyRequest, reply: FastifyReply, parse: typeof parseChatRequest) => {
    const { principal, request, meta, slot } = await accept(req, deps, parse);
    reply.header('x-generation-id', meta.id);
    if (request.stream) return streamSse(req, reply, deps, principal, meta.id, 0, null, null, null, -1, slot);
    return collectResponse(req, reply, deps, principal, meta.id, 'openai', slot);
  };
  app.post('/v1/chat/completions', (req, reply) => handle(req, reply, parseChatRequest));
  app.post('/v1/completions', (req, reply) => handle(req, reply, parseCompletionRequest));
}
