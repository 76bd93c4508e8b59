import type { Engine } from '@tokencast/engine';
import { AuthenticationError, type ErrorBody, PayloadTooLargeError, RateLimitError, ServiceUnavailableError, toErrorBody } from '@tokencast/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Access } from '../access/access.js';
import type { Limits } from '../access/limits.js';
import type { Hub } from '../fanout/hub.js';
import { translate } from '../plugins/errors.js';
import type { DurableConfig } from './config.js';
import { badRequest, DurableError } from './errors.js';
import { generationView, generationWriteRefused } from './generations.js';
import { LiveSet } from './live.js';
import { ALLOWED_HEADERS, EXPOSED_HEADERS } from './protocol.js';
import { appendStream, createStream, deleteStream, headStream, readStream, type StreamsDeps, type Target } from './streams.js';

export interface DurableDeps {
  engine: Engine;
  hub: Hub;
  access: Access;
  limits?: Limits;
  config: DurableConfig;
}

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
 * Register once per edge: `durableRoutes(scope, { engine, hub, access, limits, config })`.
 */
export async function durableRoutes(app: FastifyInstance, deps: DurableDeps): Promise<void> {
  const config = deps.config;
  const live = new LiveSet();
  const streams: StreamsDeps = { store: deps.engine.durable, config, live, ...(deps.limits ? { limits: deps.limits } : {}) };
  const views = { hub: deps.hub, store: deps.engine.store, access: deps.access, config, live, ...(deps.limits ? { limits: deps.limits } : {}) };

  // Bodies are the stream's bytes, whatever their type: one raw parser, the stream's own limit.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => readBody(payload, config.maxAppendBytes, done));

  app.addHook('onRequest', async (_req, reply) => {
    // PROTOCOL.md 10.7: on every response, errors included.
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cross-origin-resource-policy', 'cross-origin');
    if (config.corsOrigin !== 'off') {
      reply.header('access-control-allow-origin', config.corsOrigin);
      reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    }
  });

  // Our usual error body, with the protocol's headers for the answer (see DurableError).
  app.setErrorHandler((err, req, reply) => {
    const known = translate(err);
    if (!known) req.log.error({ err }, 'unhandled error');
    if (err instanceof DurableError) for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
    const { status, body } = toErrorBody(known ?? err);
    const retryAfter = known instanceof ServiceUnavailableError || known instanceof RateLimitError ? known.retryAfter : null;
    if (retryAfter !== null) reply.header('retry-after', String(retryAfter));
    else if (status === 503) reply.header('retry-after', '1');
    reply
      .code(status)
      .type('application/json')
      .send(body satisfies ErrorBody);
  });

  app.addHook('preClose', async () => {
    live.finishAll();
  });

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const name = (req.params as { '*'?: string })['*'] ?? '';
    if (req.method === 'OPTIONS') return preflight(reply, config);
    if (name.startsWith(GENERATIONS)) {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw generationWriteRefused();
      return generationView(req, reply, views, name.slice(GENERATIONS.length));
    }
    const t = await target(req, deps, config, name);
    if (req.method !== 'GET' && req.method !== 'HEAD') await deps.limits?.checkRate(t.key !== null ? `key:${t.key}` : `ip:${req.ip}`);
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
  app.route({ method: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'], url: `${config.base}/*`, exposeHeadRoute: false, handler });
}

/**
 * A request body up to `limit` bytes. A larger one is read to its end (up to a bound) and
 * discarded before the 413 goes out: a client still uploading when the server answers and
 * closes gets EPIPE instead of the answer.
 */
function readBody(payload: NodeJS.ReadableStream, limit: number, done: (err: Error | null, body?: Buffer) => void): void {
  const discardLimit = Math.max(16 * 1_048_576, 4 * limit);
  const chunks: Buffer[] = [];
  let size = 0;
  payload.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
    else if (size > discardLimit) (payload as NodeJS.ReadableStream & { destroy(): void }).destroy();
  });
  payload.once('end', () => {
    if (size > limit) done(new PayloadTooLargeError(`an append is at most ${limit} bytes`));
    else done(null, Buffer.concat(chunks, size));
  });
  payload.once('error', (err: Error) => done(size > limit ? new PayloadTooLargeError(`an append is at most ${limit} bytes`) : err));
}

function preflight(reply: FastifyReply, config: DurableConfig): void {
  if (config.corsOrigin !== 'off') {
    reply.header('access-control-allow-methods', 'GET, HEAD, PUT, POST, DELETE, OPTIONS');
    reply.header('access-control-allow-headers', ALLOWED_HEADERS);
    reply.header('access-control-max-age', '86400');
  }
  reply.code(204).send();
}

/**
 * The stream a request names, in the caller's namespace: with API keys on, each key has its own
 * set of streams (another key's stream is simply not there); read tokens only open generations.
 */
async function target(req: FastifyRequest, deps: DurableDeps, config: DurableConfig, raw: string): Promise<Target> {
  checkName(raw);
  let namespace = '';
  let key: string | null = null;
  if (deps.access.enabled) {
    const p = await deps.access.identify(req);
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
