import { AuthenticationError, PayloadTooLargeError } from '@tokencast/protocol';
import type { FastifyReply } from 'fastify';
import type { Access } from '../access/access.js';
import { readLimited } from '../plugins/json-body.js';
import { type FromSchema, type RoutePlugin, wildcardParams } from '../plugins/schemas.js';
import type { DurableConfig } from './config.js';
import { badRequest } from './errors.js';
import { type GenerationViewDeps, generationView, generationWriteRefused } from './generations.js';
import { LiveSet } from './live.js';
import { type DurableRequest, durableQuery } from './protocol.js';
import { appendStream, createStream, deleteStream, headStream, readStream, type StreamsDeps, type Target } from './streams.js';

/** Name prefix of the read-only generation views: `<base>/generations/<id>`. */
const GENERATIONS = 'generations/';
/** Longest stream name in a URL, UTF-8 bytes. */
const NAME_MAX_BYTES = 1024;
/** Separates a key's namespace from a stream name; names may not contain control characters. */
const NAMESPACE_SEP = '\u0000';
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * The Durable Streams protocol (https://github.com/durable-streams/durable-streams, PROTOCOL.md,
 * as pinned by @durable-streams/server-conformance-tests 0.3.6) under `<base>/*`:
 *
 *   PUT     create (Content-Type, Stream-TTL | Stream-Expires-At, Stream-Closed, fork headers)
 *   POST    append / close (Stream-Seq, Producer-Id/-Epoch/-Seq, Stream-Closed)
 *   GET     read: catch-up, ?live=long-poll, ?live=sse; ?offset=-1 | now | <offset>
 *   HEAD    metadata; DELETE; OPTIONS (CORS preflight)
 *
 * plus every generation as a read-only stream at `<base>/generations/<id>` (generations.ts).
 * Reads the app's services (engine, hub, access, limits) and DURABLE_STREAMS_* (config.durable).
 * Errors answer in the `durable` wire shape (plugins/errors.ts): our usual body, with the
 * protocol's headers for the answer (see DurableError).
 */
export const durableRoutes: RoutePlugin = async (app) => {
  const config = app.config.durable;
  const live = new LiveSet();
  const streams: StreamsDeps = { store: app.engine.durable, config, live, limits: app.limits };
  const views: GenerationViewDeps = { hub: app.hub, store: app.store, access: app.access, config, live, limits: app.limits };

  // Bodies are the stream's bytes, whatever their type: one raw parser, the stream's own limit.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) =>
    readLimited(payload, config.maxAppendBytes, () => new PayloadTooLargeError(`an append is at most ${config.maxAppendBytes} bytes`), done),
  );

  app.addHook('onRequest', async (_req, reply) => {
    // PROTOCOL.md 10.7: on every response, errors included.
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cross-origin-resource-policy', 'cross-origin');
    // Stream bodies are caller content served on the API's (and the live page's) origin: a
    // browser that is sent to one must never run it as a document of this origin (PITFALLS
    // "User content served on the API's origin is an XSS"). A sandboxed CSP gives any document
    // an opaque origin with no script; active types also go out as downloads (describe()).
    reply.header('content-security-policy', "default-src 'none'; sandbox; frame-ancestors 'none'");
  });

  const unsubscribe = app.access.onRevoked((revoked) => live.finishOwnedBy(revoked));
  app.addHook('preClose', async () => {
    unsubscribe();
    live.finishAll();
  });

  const handler = async (req: DurableRequest & { params: FromSchema<typeof wildcardParams> }, reply: FastifyReply) => {
    const name = req.params['*'];
    // CORS preflights from allowed origins were answered by the CORS plugin (CORS_ORIGINS).
    if (req.method === 'OPTIONS') return reply.code(204).send();
    if (name.startsWith(GENERATIONS)) {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw generationWriteRefused();
      return generationView(req, reply, views, name.slice(GENERATIONS.length));
    }
    const t = await target(req, app.access, config, name);
    if (req.method !== 'GET' && req.method !== 'HEAD') await app.limits.checkRate(t.key !== null ? `key:${t.key}` : `ip:${req.ip}`);
    switch (req.method) {
      case 'PUT':
        return createStream(req, reply, streams, t);
      case 'POST':
        return appendStream(req, reply, streams, t);
      case 'DELETE':
        return deleteStream(req, reply, streams, t);
      case 'HEAD':
        return headStream(req, reply, streams, t);
      default:
        return readStream(req, reply, streams, t);
    }
  };
  app.route({
    method: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'],
    url: `${config.base}/*`,
    exposeHeadRoute: false,
    schema: { params: wildcardParams, querystring: durableQuery },
    config: { wire: 'durable' },
    handler,
  });
};

/**
 * The stream a request names, in the caller's namespace: with API keys on, each key has its own
 * set of streams (another key's stream is simply not there); read tokens only open generations.
 */
async function target(req: DurableRequest, access: Access, config: DurableConfig, raw: string): Promise<Target> {
  checkName(raw);
  let namespace = '';
  let key: string | null = null;
  if (access.enabled) {
    const p = await access.identify(req);
    if (p.kind !== 'key') throw new AuthenticationError('Durable Streams need an API key: send "Authorization: Bearer <key>"', 'missing_api_key');
    namespace = p.name + NAMESPACE_SEP;
    key = p.name;
  }
  return {
    name: namespace + raw,
    key,
    resolve(path: string) {
      const name = sourceName(path, config.base);
      checkName(name);
      return namespace + name;
    },
  };
}

function checkName(name: string): void {
  if (name === '') throw badRequest('invalid_stream_name', 'the URL names no stream');
  if (CONTROL_CHARS.test(name) || Buffer.byteLength(name) > NAME_MAX_BYTES)
    throw badRequest('invalid_stream_name', `stream names are at most ${NAME_MAX_BYTES} bytes, without control characters`);
}

/**
 * Stream-Forked-From: the source's URL, its path (`<base>/<name>`, as in Location), or a path
 * relative to the base (`/<name>`). A path that starts with the base is read as the full path.
 */
function sourceName(value: string, base: string): string {
  let path = value;
  if (/^https?:\/\//i.test(value)) {
    try {
      path = new URL(value).pathname;
    } catch {
      throw badRequest('invalid_header', 'Stream-Forked-From is not a valid URL');
    }
  }
  try {
    path = decodeURIComponent(path);
  } catch {
    throw badRequest('invalid_header', 'Stream-Forked-From is not a valid path');
  }
  if (path.startsWith(`${base}/`)) return path.slice(base.length + 1);
  return path.startsWith('/') ? path.slice(1) : path;
}
