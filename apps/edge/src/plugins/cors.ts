import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface CorsOptions {
  /** Origins allowed to call the API from a browser; "*" allows any; empty: CORS off. */
  origins: string[];
  /** How long a browser may cache a preflight answer, seconds. */
  maxAgeSeconds: number;
  /** Request headers allowed on top of the API's own (the Durable Streams protocol's). */
  allowHeaders?: readonly string[];
  /** Response headers exposed on top of the API's own. */
  exposeHeaders?: readonly string[];
}

const ALLOW_HEADERS = ['authorization', 'content-type', 'last-event-id', 'x-api-key'];
const EXPOSE_HEADERS = ['x-generation-id', 'retry-after'];
const ALLOW_METHODS = 'GET, HEAD, POST, PUT, DELETE, OPTIONS';

const join = (base: readonly string[], extra: readonly string[] = []) => [...new Set([...base, ...extra])].join(', ');

/**
 * Cross-origin access for browser apps on other origins, for every route (the Durable Streams
 * endpoint included): CORS_ORIGINS is the one setting. Credentials travel as Bearer keys or
 * read tokens, never cookies, so no Allow-Credentials; an origin not listed gets no CORS headers
 * (the browser then refuses to hand it the response).
 */
async function corsPlugin(app: FastifyInstance, opts: CorsOptions): Promise<void> {
  if (opts.origins.length === 0) return;
  const any = opts.origins.includes('*');
  const allowed = new Set(opts.origins);
  const allowHeaders = join(ALLOW_HEADERS, opts.allowHeaders);
  const exposeHeaders = join(EXPOSE_HEADERS, opts.exposeHeaders);
  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (origin === undefined || (!any && !allowed.has(origin))) return;
    reply.header('access-control-allow-origin', any ? '*' : origin);
    if (!any) reply.header('vary', 'Origin');
    reply.header('access-control-expose-headers', exposeHeaders);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      reply
        .header('access-control-allow-methods', ALLOW_METHODS)
        .header('access-control-allow-headers', allowHeaders)
        .header('access-control-max-age', String(opts.maxAgeSeconds))
        .code(204)
        .send();
    }
  });
  // Preflights reach a route only if one exists for OPTIONS: answer them for every path.
  app.options('/*', async (_req, reply) => reply.code(204).send());
}

export default fp(corsPlugin, { name: 'tokencast-cors' });
