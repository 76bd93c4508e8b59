import { parseMessagesRequest } from '@tokencast/protocol';
import type { RoutePlugin } from '../plugins/schemas.js';
import { collectResponse, streamSse } from '../stream.js';
import { accept, objectBody } from './completions.js';

/**
 * POST /v1/messages: Anthropic's Messages API over the same generations. Its errors use
 * Anthropic's error shape (`wire: 'anthropic'`, plugins/errors.ts), so Anthropic SDKs read them
 * as their own.
 */
const messagesRoutes: RoutePlugin = async (app) => {
  app.post('/v1/messages', { schema: { body: objectBody }, config: { wire: 'anthropic' } }, async (req, reply) => {
    const { principal, request, meta, slot } = await accept(req, app, parseMessagesRequest);
    reply.header('x-generation-id', meta.id);
    if (request.stream) return streamSse(req, reply, app, principal, meta.id, 0, null, 'anthropic', null, -1, slot);
    return collectResponse(req, reply, app, principal, meta.id, 'anthropic', slot);
  });
};

export default messagesRoutes;
