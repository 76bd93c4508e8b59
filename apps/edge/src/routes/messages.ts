import { parseMessagesRequest, toErrorBody } from '@tokencast/protocol';
import type { FastifyInstance } from 'fastify';
import { setRetryAfter, translate } from '../plugins/errors.js';
import { collectResponse, streamSse } from '../stream.js';
import { accept, type SubmitDeps } from './completions.js';

/** Anthropic's error `type` for each status we answer with. */
function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/**
 * POST /v1/messages: Anthropic's Messages API over the same generations. Errors in this scope
 * use Anthropic's error shape, so Anthropic SDKs read them as their own.
 */
export async function messagesRoutes(app: FastifyInstance, deps: SubmitDeps): Promise<void> {
  app.setErrorHandler((err, req, reply) => {
    const known = translate(err);
    if (!known) req.log.error({ err }, 'unhandled error');
    const { status, body } = toErrorBody(known ?? err);
    setRetryAfter(reply, known, status);
    reply
      .code(status)
      .type('application/json')
      .send({ type: 'error', error: { type: anthropicErrorType(status), message: body.error.message } });
  });

  app.post('/v1/messages', async (req, reply) => {
    const { principal, request, meta, slot } = await accept(req, deps, parseMessagesRequest);
    reply.header('x-generation-id', meta.id);
    if (request.stream) return streamSse(req, reply, deps, principal, meta.id, 0, null, 'anthropic', null, -1, slot);
    return collectResponse(req, reply, deps, principal, meta.id, 'anthropic', slot);
  });
}
