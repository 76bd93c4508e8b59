import { type GenerationRequest, parseChatRequest, parseCompletionRequest, type RequestLimits } from '@tokencast/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { keySubject, type Principal } from '../access/access.js';
import type { Channel } from '../fanout/channel.js';
import type { RoutePlugin } from '../plugins/schemas.js';
import type { GenerationService } from '../service.js';
import { collectResponse, type StreamDeps, streamSse } from '../stream.js';

/** What a creating route works with: the app's decorated services (plugins/services.ts). */
export type SubmitDeps = StreamDeps & Pick<FastifyInstance, 'service' | 'requestLimits'>;

/**
 * The body of every creating route: a JSON object (`null`, arrays and scalars are refused here,
 * in the parsers' own words). Its fields are checked by the protocol package's parsers, the one
 * source of truth for what each API accepts and of the messages that name what is wrong.
 */
export const objectBody = { type: 'object', errorCode: 'invalid_json', errorMessage: 'the request body must be a JSON object' } as const;

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
  // A watched generation's channel is made from the meta in hand, before its job is queued: its
  // viewer then costs the store no read of the meta nor of the stream (Hub.seed).
  let seeded: Channel | null = null;
  try {
    await deps.limits.checkQueue(deps.service.queueFor(request.model));
    meta = await deps.service.submit(request, owner, (m) => {
      if (watches) seeded = deps.hub.seed(m);
    });
  } catch (err) {
    if (seeded) deps.hub.unseed(seeded);
    slot?.();
    throw err;
  }
  if (seeded) deps.hub.release(seeded);
  req.log.info({ gen: meta.id, model: meta.model, key: owner || undefined, stream: request.stream }, 'generation accepted');
  return { principal, request, meta, slot };
}

/** POST /v1/chat/completions and POST /v1/completions: OpenAI-compatible, streaming or not. */
const completionRoutes: RoutePlugin = async (app) => {
  for (const [url, parse] of [
    ['/v1/chat/completions', parseChatRequest],
    ['/v1/completions', parseCompletionRequest],
  ] as const) {
    app.post(url, { schema: { body: objectBody } }, async (req, reply) => {
      const { principal, request, meta, slot } = await accept(req, app, parse);
      reply.header('x-generation-id', meta.id);
      if (request.stream) return streamSse(req, reply, app, principal, meta.id, 0, null, null, null, -1, slot);
      return collectResponse(req, reply, app, principal, meta.id, 'openai', slot);
    });
  }
};

export default completionRoutes;
