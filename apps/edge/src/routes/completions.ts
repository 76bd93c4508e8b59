import { type GenerationRequest, parseChatRequest, parseCompletionRequest, type RequestLimits } from '@tokencast/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GenerationService } from '../service.js';
import { collectResponse, type StreamDeps, streamSse } from '../stream.js';

export interface CompletionRoutesDeps extends StreamDeps {
  service: GenerationService;
  limits: RequestLimits;
}

/** POST /v1/chat/completions and POST /v1/completions: OpenAI-compatible, streaming or not. */
export async function completionRoutes(app: FastifyInstance, deps: CompletionRoutesDeps): Promise<void> {
  const handle = async (req: FastifyRequest, reply: FastifyReply, request: GenerationRequest) => {
    const meta = await deps.service.submit(request);
    reply.header('x-generation-id', meta.id);
    req.log.info({ gen: meta.id, model: meta.model, stream: request.stream }, 'generation accepted');
    if (request.stream) return streamSse(req, reply, deps, meta.id, 0, null);
    return collectResponse(req, reply, deps, meta.id);
  };
  app.post('/v1/chat/completions', (req, reply) => handle(req, reply, parseChatRequest(req.body, deps.limits)));
  app.post('/v1/completions', (req, reply) => handle(req, reply, parseCompletionRequest(req.body, deps.limits)));
}
