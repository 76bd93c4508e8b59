/**
 * Every error the SDK throws is a TokencastClientError with a stable `code`; callers branch on
 * `instanceof` or `code`, never on the message. An aborted call rejects with the signal's reason
 * (an AbortError DOMException, as fetch does), not with one of these.
 */
export class TokencastClientError extends Error {
  /** Machine-readable reason: the server's error code when there was one. */
  readonly code: string;
  /** HTTP status of the response at fault; null when no response was involved. */
  readonly status: number | null;

  constructor(code: string, message: string, status: number | null = null, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/** The edge answered with a non-2xx status and an OpenAI-style error body (or none). */
export class HttpError extends TokencastClientError {
  /** OpenAI error `type` (invalid_request_error, not_found_error, …); null without a body. */
  readonly type: string | null;
  /** Request field at fault; null when the error is not about one field. */
  readonly param: string | null;
  /** From Retry-After, in ms; null when the response did not say. */
  readonly retryAfterMs: number | null;

  constructor(status: number, code: string, message: string, type: string | null, param: string | null, retryAfterMs: number | null) {
    super(code, message, status);
    this.type = type;
    this.param = param;
    this.retryAfterMs = retryAfterMs;
  }

  /** Statuses worth retrying: the edge or something in front of it is briefly unwell. */
  get retryable(): boolean {
    return this.status === 408 || this.status === 425 || this.status === 429 || (this.status !== null && this.status >= 500);
  }
}

/** The stream kept failing without delivering anything new, as many times as the retry budget allows. */
export class RetryBudgetExceededError extends TokencastClientError {
  /** Consecutive attempts that delivered nothing. */
  readonly attempts: number;
  /** Offset of the last event delivered before giving up (0: none). Resume from here later. */
  readonly lastOffset: number;

  constructor(attempts: number, lastOffset: number, cause: unknown) {
    super('retry_budget_exceeded', `gave up after ${attempts} attempts without progress (last offset ${lastOffset})`, null, { cause });
    this.attempts = attempts;
    this.lastOffset = lastOffset;
  }
}

/** The server sent something that is not tokencast's SSE format (or skipped an offset). */
export class ProtocolError extends TokencastClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('protocol_error', message, null, options);
  }
}

/** Thrown by `chat()` when the generation ended with an error (its code is the server's). */
export class GenerationFailedError extends TokencastClientError {
  /** Text received before the failure. */
  readonly partialText: string;

  constructor(code: string, message: string, partialText: string) {
    super(code, message);
    this.partialText = partialText;
  }
}

/** Parse a non-2xx response into an HttpError (the body may be anything, or nothing). */
export async function httpErrorFrom(res: Response): Promise<HttpError> {
  let code = `http_${res.status}`;
  let message = `HTTP ${res.status}`;
  let type: string | null = null;
  let param: string | null = null;
  try {
    const body = (await res.json()) as { error?: { message?: unknown; type?: unknown; param?: unknown; code?: unknown } };
    const e = body.error;
    if (e && typeof e === 'object') {
      if (typeof e.code === 'string') code = e.code;
      if (typeof e.message === 'string') message = e.message;
      if (typeof e.type === 'string') type = e.type;
      if (typeof e.param === 'string') param = e.param;
    }
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): the status says enough.
  }
  return new HttpError(res.status, code, message, type, param, parseRetryAfter(res.headers.get('retry-after')));
}

/** Retry-After as delta-seconds or an HTTP date, in ms; null when absent or unreadable. */
export function parseRetryAfter(raw: string | null): number | null {
  if (raw === null || raw.trim() === '') return null;
  const s = Number(raw);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
