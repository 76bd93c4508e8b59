import type { FastifyCorsOptions } from '@fastify/cors';

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
const ALLOW_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'];

const union = (base: readonly string[], extra: readonly string[] = []) => [...new Set([...base, ...extra])];

/**
 * Options of @fastify/cors for every route (the Durable Streams endpoint included): CORS_ORIGINS
 * is the one setting; null when it is empty (CORS off: the plugin is not registered). Credentials
 * travel as Bearer keys or read tokens, never cookies, so no Allow-Credentials. An origin not
 * listed (or no Origin at all) resolves to false: no CORS headers whatsoever, so the browser
 * refuses to hand it the response. Preflights are answered in the onRequest hook, before any
 * authentication; one without Access-Control-Request-Method is answered too (not strict).
 */
export function corsOptions(opts: CorsOptions): FastifyCorsOptions | null {
  if (opts.origins.length === 0) return null;
  const any = opts.origins.includes('*');
  const allowed = new Set(opts.origins);
  return {
    origin: (origin, cb) => cb(null, origin === undefined || !(any || allowed.has(origin)) ? false : any ? '*' : origin),
    methods: ALLOW_METHODS,
    allowedHeaders: union(ALLOW_HEADERS, opts.allowHeaders),
    exposedHeaders: union(EXPOSE_HEADERS, opts.exposeHeaders),
    maxAge: opts.maxAgeSeconds,
    strictPreflight: false,
  };
}
