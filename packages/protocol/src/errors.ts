/**
 * Typed errors. Every error a client can see is a TokencastError with an HTTP status and an
 * OpenAI-style `type`/`code`; `toErrorBody` is the one place that turns it into JSON.
 */
export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'not_found_error' | 'rate_limit_error' | 'server_error' | 'service_unavailable';

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

export interface ErrorOptions {
  /** Name of the request field at fault; null when the error is not about one field. */
  param?: string | null;
  cause?: unknown;
}

export class TokencastError extends Error {
  readonly statusCode: number;
  readonly type: ErrorType;
  readonly code: string;
  readonly param: string | null;

  constructor(statusCode: number, type: ErrorType, code: string, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.statusCode = statusCode;
    this.type = type;
    this.code = code;
    this.param = opts.param ?? null;
  }
}

/**
 * The base of an error class with a fixed status and type, and a code that defaults to
 * `defaultCode` (Fastify's createError, as a class): constructed with (message, code?, opts?).
 */
function errorClass(statusCode: number, type: ErrorType, defaultCode: string) {
  return class extends TokencastError {
    constructor(message: string, code = defaultCode, opts: ErrorOptions = {}) {
      super(statusCode, type, code, message, opts);
    }
  };
}

export class InvalidRequestError extends errorClass(400, 'invalid_request_error', 'invalid_request') {}

export class AuthenticationError extends errorClass(401, 'authentication_error', 'invalid_api_key') {}

export class PermissionError extends errorClass(403, 'permission_error', 'forbidden') {}

/** A limit was reached; `retryAfter` (seconds) goes out as the Retry-After header. */
export class RateLimitError extends TokencastError {
  readonly retryAfter: number;
  constructor(message: string, code: string, retryAfter: number, opts: ErrorOptions = {}) {
    super(429, 'rate_limit_error', code, message, opts);
    this.retryAfter = retryAfter;
  }
}

export class NotFoundError extends errorClass(404, 'not_found_error', 'not_found') {}

/** The offset asked for is older than what the stream still holds: never silently skipped. */
export class GoneError extends errorClass(410, 'invalid_request_error', 'offset_gone') {}

export class PayloadTooLargeError extends TokencastError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super(413, 'invalid_request_error', 'payload_too_large', message, opts);
  }
}

export class UnsupportedMediaTypeError extends TokencastError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super(415, 'invalid_request_error', 'unsupported_media_type', message, opts);
  }
}

export class ServiceUnavailableError extends TokencastError {
  /** Seconds the client should wait before retrying; null when unknown. */
  readonly retryAfter: number | null;
  constructor(message: string, code = 'service_unavailable', retryAfter: number | null = null, opts: ErrorOptions = {}) {
    super(503, 'service_unavailable', code, message, opts);
    this.retryAfter = retryAfter;
  }
}

/**
 * The OpenAI-style `type` of an error answer with this status: the vocabulary every typed error
 * above uses, for errors built from a status alone (Durable Streams answers; other wires map it
 * to their own names, as the edge's Anthropic serializer does).
 */
export function errorTypeOf(status: number): ErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'service_unavailable';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Anything that is not a TokencastError is an internal error: its message is not shown to clients. */
export function toErrorBody(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof TokencastError) {
    return {
      status: err.statusCode,
      body: { error: { message: err.message, type: err.type, param: err.param, code: err.code } },
    };
  }
  return {
    status: 500,
    body: { error: { message: 'Internal server error', type: 'server_error', param: null, code: 'internal_error' } },
  };
}
