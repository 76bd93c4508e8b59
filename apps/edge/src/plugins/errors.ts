import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import {
  type ErrorBody,
  errorTypeOf,
  InvalidRequestError,
  PayloadTooLargeError,
  RateLimitError,
  ServiceUnavailableError,
  TokencastError,
  toErrorBody,
  UnsupportedMediaTypeError,
} from '@tokencast/protocol';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DurableError } from '../durable/errors.js';
import { generationNotFound } from '../stream.js';

/**
 * One error path for the whole edge: every failure leaves as JSON in its route's wire shape with
 * the right status. Fastify's own errors (bad JSON, body too large, wrong content type) are
 * translated to our typed errors first (schema validation failures already are: schemas.ts);
 * anything unknown is a 500 whose details go to the log, not the client.
 */
export function translate(err: unknown): TokencastError | null {
  if (err instanceof TokencastError) return err;
  const e = err as Partial<FastifyError> & { name?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError('the request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError('send the request body as application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new InvalidRequestError('the request body is not valid JSON', 'invalid_json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidRequestError('the request body is empty; send a JSON object', 'invalid_json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidRequestError('the Content-Length header does not match the body', 'invalid_content_length');
    case 'FST_ERR_VALIDATION':
      return new InvalidRequestError(e.message ?? 'invalid request', 'invalid_request');
  }
  if (e.name === 'SyntaxError' && e.statusCode === 400) return new InvalidRequestError('the request body is not valid JSON', 'invalid_json');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new TokencastError(e.statusCode, 'invalid_request_error', 'invalid_request', e.message ?? 'invalid request');
  }
  return null;
}

/** Retry-After for every refusal a client should retry (429, 503), whatever the error body's shape. */
function setRetryAfter(reply: FastifyReply, known: TokencastError | null, status: number): void {
  const retryAfter = known instanceof ServiceUnavailableError || known instanceof RateLimitError ? known.retryAfter : null;
  if (retryAfter !== null) reply.header('retry-after', String(retryAfter));
  else if (status === 503 || status === 429) reply.header('retry-after', '1');
}

/**
 * The error shapes the edge answers in, one per API it speaks; a route names its own in its
 * config (`config: { wire: 'anthropic' }`), every other route answers in the OpenAI shape.
 *   openai     {"error":{"message","type","param","code"}}
 *   anthropic  {"type":"error","error":{"type","message"}}: Anthropic SDKs read it as their own
 *   durable    the OpenAI body, with the protocol headers the Durable Streams answer asks for
 *              (Stream-Closed and Stream-Next-Offset on a 409, Producer-Epoch on a 403, …)
 */
export type Wire = 'openai' | 'anthropic' | 'durable';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The error shape of this route's answers; absent: openai. */
    wire?: Wire;
  }
}

/** Anthropic's error `type` for each status we answer with: OpenAI's names but for three. */
function anthropicErrorType(status: number): string {
  if (status === 413) return 'request_too_large';
  const type = errorTypeOf(status);
  if (type === 'service_unavailable') return 'overloaded_error';
  if (type === 'server_error') return 'api_error';
  return type;
}

/** One serializer per wire shape: the body (and any headers) of an error answer. */
const serializers: Record<Wire, (body: ErrorBody, status: number, known: TokencastError | null, reply: FastifyReply) => unknown> = {
  openai: (body) => body,
  anthropic: (body, status) => ({ type: 'error', error: { type: anthropicErrorType(status), message: body.error.message } }),
  durable: (body, _status, known, reply) => {
    if (known instanceof DurableError) reply.headers(known.headers);
    return body;
  },
};

/** Sends `err` in the route's wire shape with the right status (and Retry-After when retryable). */
function sendError(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const known = translate(err);
  if (!known) req.log.error({ err }, 'unhandled error');
  else if (known.statusCode >= 500) req.log.warn({ code: known.code, error: known.message }, 'request failed');
  const { status, body } = toErrorBody(known ?? err);
  setRetryAfter(reply, known, status);
  const wire = req.routeOptions.config.wire ?? 'openai';
  reply
    .code(status)
    .type('application/json')
    .send(serializers[wire](body, status, known, reply));
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  // JSON is the only body the API takes. Fastify also parses text/plain by default, which would
  // hand the routes a string (a confusing 400) instead of the 415 the protocol promises.
  app.removeContentTypeParser('text/plain');
  // The one error handler: every route's errors, in the shape its config names (Wire).
  app.setErrorHandler(sendError);
  app.setNotFoundHandler((req, reply) => {
    const body: ErrorBody = { error: { message: `Unknown route ${req.method} ${req.url.split('?')[0]}`, type: 'invalid_request_error', param: null, code: 'unknown_route' } };
    reply.code(404).send(body);
  });
}

/**
 * Fastify's router errors, raised before any route or error handler runs (Fastify option
 * `frameworkErrors`). The only path parameters are generation ids, so one too long for the
 * router is a malformed id: the same 404 as an unknown one.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const known = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? generationNotFound() : (translate(err) ?? new InvalidRequestError('the URL is not valid', 'invalid_url'));
  const { status, body } = toErrorBody(known);
  reply.code(status).type('application/json').send(body);
}

/**
 * Requests Node's HTTP parser refuses (control characters in a header, headers too large, …)
 * never reach Fastify's error handler (Fastify option `clientErrorHandler`). Answered like
 * Node does (only when nothing was written on the connection yet, then the socket is closed),
 * but with an OpenAI-style body.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request did not arrive in time']
        : [400, 'malformed_request', 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code } } satisfies ErrorBody);
  if (socket.writable && socket.bytesWritten === 0) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

export default fp(errorsPlugin, { name: 'tokencast-errors' });
